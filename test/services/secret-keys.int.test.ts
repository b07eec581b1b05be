import { createLogger } from "@kiln/runtime";
import { Writable } from "node:stream";
import { expect, test } from "vitest";
import * as api from "../../services/api/src/config.js";
import * as buildRunner from "../../services/build-runner/src/config.js";
import * as deployer from "../../services/deployer/src/config.js";
import * as imageWatcher from "../../services/image-watcher/src/config.js";
import * as scheduler from "../../services/scheduler/src/config.js";
import * as webhookReceiver from "../../services/webhook-receiver/src/config.js";

const services = { api, buildRunner, deployer, imageWatcher, scheduler, webhookReceiver };
/** What a variable that holds a secret is called, in Kiln's configs. */
const secretName = /TOKEN|SECRET|PASSWORD|SEED|PRIVATE_KEY|DATABASE_URL/;

test("every variable of a service's config that holds a secret is one of its SECRET_KEYS", () => {
  for (const [name, { ConfigSchema, SECRET_KEYS }] of Object.entries(services)) {
    const keys = Object.keys(
      (ConfigSchema as unknown as { shape?: object; in?: { shape: object } }).shape ??
        (ConfigSchema as unknown as { def: { in: { shape: object } } }).def.in.shape,
    );
    expect(keys.length, `${name} has its variables listed`).toBeGreaterThan(5);
    const secret = keys.filter((k) => secretName.test(k) && !/_FILE$|_LIMIT|_TOKENS_/.test(k));
    expect([...SECRET_KEYS].sort(), name).toEqual(expect.arrayContaining(secret.sort()));
  }
});

test("a service's logger redacts its secret variables, at the top, one level down and in a logged config", () => {
  let out = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const logger = createLogger({
    service: "api",
    destination: sink,
    secretKeys: api.SECRET_KEYS,
  });
  logger.info(
    {
      API_TOKEN: "tok-top-1234567890",
      config: { KILN_SECRETS_KEY: "key-in-config-123", API_PORT: 18080 },
      env: { DATABASE_URL: "postgres://kiln:pw-nested-123@h/kiln" },
    },
    "started",
  );
  for (const secret of ["tok-top-1234567890", "key-in-config-123", "pw-nested-123"])
    expect(out).not.toContain(secret);
  expect(out).toContain('"API_PORT":18080');
  expect(out.match(/\[redacted\]/g)).toHaveLength(3);
});
