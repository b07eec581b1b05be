import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Bus,
  busNatsUsers,
  createBusCredentials,
  inboxPrefixFor,
  unsealCredentials,
  type BusCredentials,
  type BusIdentity,
} from "@kiln/bus";
import { applyResources, createDatabase } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { freePort, startNats, type NatsServer } from "@kiln/infra";
import { createLogger } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { integrationTest } from "@kiln/testing";
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from "nats";
import { afterAll, beforeAll, expect } from "vitest";

/**
 * Each part of Kiln on a NATS server configured as `kiln up` configures it: the users and
 * permissions generated from the catalogue for the prefix `kiln`. Every test plays an attacker
 * holding one service's credentials (or none) and checks the server, not a log.
 */
const logger = createLogger({ service: "permissions-test", level: "silent" });
const prefix = "kiln";
let server: NatsServer;
let stateDir: string;
let credentials: BusCredentials;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "kiln-nats-perm-"));
  credentials = createBusCredentials();
  server = await startNats({
    stateDir,
    port: await freePort(),
    users: busNatsUsers(credentials, prefix),
  });
  const admin = await busAs("admin");
  await admin.ensureStreams();
  await admin.drain();
});
afterAll(async () => {
  await server?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const test = integrationTest;

function busAs(role: BusIdentity): Promise<Bus> {
  return Bus.connect({
    servers: server.url,
    prefix,
    name: `attacker-as-${role}`,
    logger,
    identity: { role, nkeySeed: credentials[role] },
  });
}

function natsAs(role: BusIdentity): Promise<NatsConnection> {
  return connect({
    servers: server.url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(credentials[role])),
    inboxPrefix: inboxPrefixFor(role),
  });
}

/** The server's answer to a subscription: refused (its error), or a message within `ms`. */
async function subscriptionOutcome(nc: NatsConnection, subject: string, ms = 1500) {
  const sub = nc.subscribe(subject);
  const timer = setTimeout(() => sub.unsubscribe(), ms);
  try {
    for await (const msg of sub) return `got a message on ${msg.subject}`;
    return "nothing";
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

const dispatch = (buildId: string) => ({
  v: 2 as const,
  buildId,
  namespace: "default",
  name: "app-1",
  spec: {
    buildConfig: "app",
    number: 1,
    source: { dockerfile: "FROM scratch\n" },
    strategy: { type: "Docker" },
    output: { image: null, imageLabels: [] },
    revision: {},
    env: [],
    triggeredBy: [{ type: "Manual" as const, message: "test" }],
  },
  sealedCredentials: "sealed",
});

test("a service with a seed the server was not given exits at once with one line naming NATS and the identity", async () => {
  const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
  await expect(
    Bus.connect({
      servers: server.url,
      name: "stranger",
      logger,
      identity: { role: "scheduler", nkeySeed: stranger },
    }),
  ).rejects.toThrow(
    `NATS at ${server.url} refused the scheduler identity's NKey (Authorization Violation): NATS_NKEY_SEED is not one the server knows`,
  );
  const started = Date.now();
  const { execFile } = await import("node:child_process");
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "services/scheduler/src/main.ts"],
      {
        cwd: new URL("../..", import.meta.url).pathname,
        env: {
          PATH: process.env.PATH,
          NATS_URL: server.url,
          NATS_NKEY_SEED: stranger,
          DATABASE_URL: "postgres://kiln:x@127.0.0.1:1/kiln",
          KILN_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
          KILN_REGISTRY: "127.0.0.1:5000",
          KILN_RUNNER_SEALING_PUBLIC_KEY:
            '{"kty":"OKP","crv":"X25519","x":"6wEKfX2c9_9DngGsZZOLXKDRtgvKkjyO9prisHO9ViM"}',
          SCHEDULER_HEALTH_PORT: "0",
        },
      },
      (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }),
    );
  });
  expect(Date.now() - started).toBeLessThan(20_000);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain("scheduler: failed to start: NATS at");
  expect(result.stderr).toContain("refused the scheduler identity's NKey");
  expect(result.stderr).not.toContain(stranger);
});

test("a connection without credentials, or with a key the server was not given, is refused", async () => {
  await expect(connect({ servers: server.url })).rejects.toMatchObject({
    code: "AUTHORIZATION_VIOLATION",
  });
  const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
  await expect(
    connect({
      servers: server.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(stranger)),
    }),
  ).rejects.toMatchObject({ code: "AUTHORIZATION_VIOLATION" });
});

test("a build-runner cannot request a build: the publish is refused and nothing is stored", async () => {
  const runner = await busAs("build-runner");
  const admin = await busAs("admin");
  try {
    await expect(
      runner.publish(
        "build.requested",
        "forged",
        {
          v: 1,
          requestId: "forged",
          namespace: "default",
          buildConfig: "app",
          env: [],
          cause: { type: "Manual", message: "forged" },
          requestedAt: new Date().toISOString(),
        },
        { msgId: "forged" },
      ),
    ).rejects.toThrow(/Permissions Violation for Publish to "kiln\.build\.requested\.forged"/);
    expect(await admin.count("build.requested", "forged")).toBe(0);
    // Nor may it say an image changed, which would set off builds and deploys.
    await expect(
      runner.publish(
        "image.changed",
        "default_app_latest",
        {
          v: 1,
          namespace: "default",
          imageStream: "app",
          tag: "latest",
          digest: `sha256:${"0".repeat(64)}`,
          imageReference: `r/default/app@sha256:${"0".repeat(64)}`,
          cause: { type: "Tag" },
          at: new Date().toISOString(),
        },
        { msgId: "forged-image" },
      ),
    ).rejects.toThrow(/Permissions Violation/);
    expect(await admin.count("image.changed", "default_app_latest")).toBe(0);
  } finally {
    await runner.drain();
    await admin.drain();
  }
});

test("the webhook-receiver cannot read a dispatch: not by subscription, from the runners' consumer, from the stream or from the runners' inbox", async () => {
  const admin = await busAs("admin");
  await admin.ensureConsumer("build-runner-dispatched");
  await admin.publish("build.dispatched", "b-secret", dispatch("b-secret"), {
    msgId: "b-secret:dispatch",
  });
  const receiver = await natsAs("webhook-receiver");
  try {
    for (const subject of [
      "kiln.build.dispatched.>",
      "_INBOX_build_runner.>",
      "_INBOX.>",
      ">",
      "$JS.API.>",
    ])
      expect(await subscriptionOutcome(receiver, subject)).toMatch(
        /Permissions Violation for Subscription to/,
      );
    const js = receiver.jetstream();
    await expect(
      js.consumers.get("KILN_BUILD_DISPATCH", "build-runner-dispatched"),
    ).rejects.toThrow(/Permissions Violation/);
    const jsm = await receiver.jetstreamManager();
    await expect(jsm.streams.getMessage("KILN_BUILD_DISPATCH", { seq: 1 })).rejects.toThrow(
      /Permissions Violation/,
    );
    // The dispatch still waits, undelivered, for a runner.
    const adminJsm = await admin.nc.jetstreamManager();
    const consumer = await adminJsm.consumers.info(
      "KILN_BUILD_DISPATCH",
      "build-runner-dispatched",
    );
    expect(consumer.num_pending).toBe(1);
    expect(consumer.delivered.consumer_seq).toBe(0);
  } finally {
    await receiver.drain();
    await admin.drain();
  }
});

test("no service may create, change or delete a stream", async () => {
  const api = await natsAs("api");
  const admin = await busAs("admin");
  try {
    const jsm = await api.jetstreamManager();
    await expect(jsm.streams.delete("KILN_BUILD_EVENTS")).rejects.toThrow(/Permissions Violation/);
    await expect(
      jsm.streams.add({ name: "KILN_STEAL", subjects: ["kiln.build.dispatched.stolen"] }),
    ).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.streams.update("KILN_BUILD_LOGS", { max_age: 1_000_000_000 })).rejects.toThrow(
      /Permissions Violation/,
    );
    const adminJsm = await admin.nc.jetstreamManager();
    const events = await adminJsm.streams.info("KILN_BUILD_EVENTS");
    expect(events.config.name).toBe("KILN_BUILD_EVENTS");
    expect((await adminJsm.streams.info("KILN_BUILD_LOGS")).config.max_age).toBe(
      30 * 24 * 3600 * 1e9,
    );
    await expect(adminJsm.streams.info("KILN_STEAL")).rejects.toThrow(/stream not found/);
  } finally {
    await api.drain();
    await admin.drain();
  }
});

test("registry credentials cross the bus sealed: the dispatch read straight off the stream holds none, and only the runners' key opens them, for that build", async ({
  database,
  infra,
}) => {
  const db = createDatabase(database.url);
  const scheduler = await busAs("scheduler");
  const admin = await busAs("admin");
  await admin.ensureConsumer("build-runner-dispatched");
  const password = "pw-sealed-7c1d-not-on-the-bus";
  const auth = Buffer.from(`ci:${password}`).toString("base64");
  const dockerConfig = JSON.stringify({ auths: { "registry.example": { auth } } });
  const buildScheduler = new BuildScheduler({
    bus: scheduler,
    db: db.db,
    logger,
    registry: "registry.example",
    runnerSealingKey: infra.sealingKeys.publicKey,
    secrets: infra.secrets,
  });
  try {
    await applyResources(
      db.db,
      parseResources([
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "regcred" },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": Buffer.from(dockerConfig).toString("base64") },
        },
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "sealed" },
          spec: {
            source: { git: { uri: "file:///x" } },
            strategy: { type: "Docker", dockerStrategy: { pullSecret: { name: "regcred" } } },
            output: { to: { kind: "ImageStreamTag", name: "sealed:latest" } },
          },
        },
      ]),
      infra.secrets,
    );
    await buildScheduler.start();
    await admin.publish(
      "build.requested",
      "sealed-1",
      {
        v: 1,
        requestId: "sealed-1",
        namespace: "default",
        buildConfig: "sealed",
        env: [],
        cause: { type: "Manual", message: "test" },
        requestedAt: new Date().toISOString(),
      },
      { msgId: "build-request:sealed-1" },
    );
    const jsm = await admin.nc.jetstreamManager();
    const deadline = Date.now() + 15_000;
    let raw: string | undefined;
    while (!raw && Date.now() < deadline) {
      const info = await jsm.streams.info("KILN_BUILD_DISPATCH");
      if (info.state.messages > 0) {
        const msg = await jsm.streams.getMessage("KILN_BUILD_DISPATCH", {
          seq: info.state.last_seq,
        });
        const text = new TextDecoder().decode(msg.data);
        if (text.includes('"buildConfig":"sealed"')) raw = text;
      }
      if (!raw) await new Promise((r) => setTimeout(r, 100));
    }
    expect(raw, "the scheduler dispatched the build").toBeDefined();
    expect(raw).not.toContain(auth);
    expect(raw).not.toContain(password);
    const message = JSON.parse(raw!) as { buildId: string; sealedCredentials?: string };
    expect(message).not.toHaveProperty("credentials");
    const opened = await unsealCredentials(
      infra.sealingKeys.privateKey,
      message.buildId,
      message.sealedCredentials!,
    );
    expect(opened.pull).toBe(dockerConfig);
    await expect(
      unsealCredentials(infra.sealingKeys.privateKey, "another-build", message.sealedCredentials!),
    ).rejects.toThrow(/sealed for another build/);
    // Its user may publish the phases it gives a build, after reading the newest one.
    await expect
      .poll(async () => (await admin.lastEvent("build.status-changed", message.buildId))?.phase)
      .toBe("Pending");
    expect(await admin.count("build.status-changed", message.buildId)).toBe(2);
  } finally {
    await buildScheduler.stop();
    await scheduler.drain();
    await admin.drain();
    await db.close();
  }
});
