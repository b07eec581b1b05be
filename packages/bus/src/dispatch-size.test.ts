import { randomUUID } from "node:crypto";
import {
  busMaxPayloadBytes,
  jsonBytes,
  maxBuildSpecBytes,
  maxDockerConfigJsonBytes,
  type BuildSpec,
} from "@kiln/domain";
import { headers, type MsgHdrsImpl } from "nats";
import { describe, expect, test } from "vitest";
import { events } from "./catalog.js";
import { jsonCodec } from "./codec.js";
import { createSealingKeyPair, sealCredentials } from "./sealed-credentials.js";

/**
 * The api refuses a build spec over maxBuildSpecBytes and registry credentials over
 * maxDockerConfigJsonBytes; this is the promise that makes those two limits enough: the largest
 * build Kiln accepts, with the largest credentials, still fits in one NATS message.
 */
describe("the largest build.dispatched", () => {
  test("fits in NATS's max_payload, headers included", async () => {
    const base: BuildSpec = {
      buildConfig: "b".repeat(165),
      number: 2_147_483_647,
      source: { dockerfile: "" },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { image: `127.0.0.1:15000/${"n".repeat(63)}/app:latest`, imageLabels: [] },
      revision: {},
      credentials: { pullSecret: "p".repeat(253), pushSecret: "q".repeat(253) },
      env: [],
      triggeredBy: [{ type: "Manual", message: "Manually triggered" }],
    };
    const spec: BuildSpec = {
      ...base,
      source: { dockerfile: "#".repeat(maxBuildSpecBytes - jsonBytes(base)) },
    };
    expect(jsonBytes(spec)).toBe(maxBuildSpecBytes);

    // The worst docker config for its size: every character doubles when it is put in JSON.
    const dockerConfig = (fill: string) => {
      const head = '{"auths":{},"x":"';
      return `${head}${fill.repeat((maxDockerConfigJsonBytes - head.length - 2) / fill.length)}"}`;
    };
    const pull = dockerConfig('\\"');
    expect(pull.length).toBeLessThanOrEqual(maxDockerConfigJsonBytes);
    expect(() => JSON.parse(pull) as unknown).not.toThrow();
    const keys = await createSealingKeyPair();
    const buildId = randomUUID();
    const sealedCredentials = await sealCredentials(keys.publicKey, buildId, {
      pull,
      push: dockerConfig('\\"'),
    });

    const payload = jsonCodec(events["build.dispatched"].schema).encode({
      v: 2,
      buildId,
      namespace: "n".repeat(63),
      name: `${spec.buildConfig}-${spec.number}`,
      spec,
      sealedCredentials,
    });
    const h = headers() as MsgHdrsImpl;
    h.set("Content-Type", "application/json");
    h.set("Nats-Msg-Id", `${buildId}:dispatch`);
    const total = payload.length + h.encode().length;
    expect(total).toBeLessThanOrEqual(busMaxPayloadBytes);
    // And not by luck: at least a few KiB are left for a trigger's cause and pinned images.
    expect(busMaxPayloadBytes - total).toBeGreaterThan(16 * 1024);
  });
});
