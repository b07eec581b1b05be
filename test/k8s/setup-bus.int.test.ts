/**
 * `kiln-service setup-bus` (scripts/setup-bus.ts) as k8s/ runs it: the scheduler's init container,
 * the only holder of the admin seed, sets up the streams every service waits for. Against a real
 * nats-server that lets in only Kiln's NKey users (plain text here: TLS is nats.yaml's, checked in
 * manifests.int.test.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator } from "nats";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Bus,
  busNatsUsers,
  busRoleNames,
  createBusCredentials,
  objectStores,
  streams,
  type BusCredentials,
} from "@kiln/bus";
import { freePort, startNats, type NatsServer } from "@kiln/infra";
import { randomToken } from "@kiln/testing";
import { runScript } from "./kiln-scripts.js";

let dir: string;
let nats: NatsServer;
let credentials: BusCredentials;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-setup-bus-"));
  credentials = createBusCredentials();
  nats = await startNats({
    stateDir: dir,
    port: await freePort(),
    users: busNatsUsers(credentials, "*"),
  });
}, 60_000);

afterAll(async () => {
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const setUp = (prefix: string, seed: string | undefined) =>
  runScript("setup-bus", [], {
    NATS_URL: nats.url,
    KILN_SUBJECT_PREFIX: prefix,
    LOG_LEVEL: "warn",
    ...(seed === undefined ? {} : { NATS_ADMIN_NKEY_SEED: seed }),
  });

const connectAs = (role: (typeof busRoleNames)[number], prefix: string) =>
  Bus.connect({
    servers: nats.url,
    prefix,
    name: `setup-bus-test-${role}`,
    logger: pino({ level: "silent" }),
    identity: { role, nkeySeed: credentials[role] },
  });

describe("kiln-service setup-bus", () => {
  it("creates every stream and object store of its prefix as the admin, so each service finds its own, and does it again unchanged", async () => {
    const prefix = `t${randomToken(10)}`;
    const scheduler = await connectAs("scheduler", prefix);
    try {
      // Before: a service waits, and gives up with the reason.
      await expect(scheduler.waitForStreams("scheduler", 500)).rejects.toMatchObject({
        reason: "BusNotReady",
      });
      const first = await setUp(prefix, credentials.admin);
      expect(first, first.stderr).toMatchObject({ code: 0 });
      // Every rollout of the scheduler runs it again.
      const again = await setUp(prefix, credentials.admin);
      expect(again, again.stderr).toMatchObject({ code: 0 });
    } finally {
      await scheduler.drain();
    }
    for (const role of busRoleNames) {
      const bus = await connectAs(role, prefix);
      try {
        await bus.waitForStreams(role, 2_000);
      } finally {
        await bus.drain();
      }
    }
    const nc = await connect({
      servers: nats.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(credentials.admin)),
    });
    try {
      const names: string[] = [];
      for await (const name of (await nc.jetstreamManager()).streams.names()) names.push(name);
      const upper = prefix.toUpperCase();
      expect(names.filter((n) => n.includes(upper)).sort()).toEqual(
        [
          ...Object.keys(streams).map((key) => `${upper}_${key}`),
          ...Object.keys(objectStores).map((key) => `OBJ_${upper}_${key}`),
        ].sort(),
      );
    } finally {
      await nc.close();
    }
  });

  it("fails, naming why, with a service's seed instead of the admin's (services may not create streams)", async () => {
    const result = await setUp(`t${randomToken(10)}`, credentials.scheduler);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/setup-bus: failed to start: .*permission/i);
  });

  it("stops at once without the admin seed, naming the variable", async () => {
    const result = await setUp(`t${randomToken(10)}`, undefined);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/NATS_ADMIN_NKEY_SEED/);
  });
});
