import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, NonRetryableError } from "@kiln/bus";
import { freePort, startNats } from "@kiln/infra";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { expect } from "vitest";

const logger = createLogger({ service: "bus-test", level: "silent" });
const test = baseTest.extend<{ bus: Bus }>({
  bus: async ({ infra, subjectPrefix }, use) => {
    const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "bus-test", logger });
    await use(bus);
    await bus.drain();
  },
});

const request = (requestId: string) => ({
  v: 1 as const,
  requestId,
  namespace: "default",
  buildConfig: "app",
  env: [],
  cause: { type: "Manual" as const, message: "test" },
  requestedAt: new Date().toISOString(),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a retried publish with the same message id is stored once", async ({ bus }) => {
  const first = await bus.publish("build.requested", "r1", request("r1"), { msgId: "r1" });
  const again = await bus.publish("build.requested", "r1", request("r1"), { msgId: "r1" });
  expect(first.duplicate).toBe(false);
  expect(again.duplicate).toBe(true);
  expect(await bus.count("build.requested", "r1")).toBe(1);
});

test("ensureStreams is idempotent, so kiln up may run it at every start", async ({ bus }) => {
  await bus.ensureStreams();
  await bus.ensureStreams();
  await bus.publish("build.requested", "r2", request("r2"), { msgId: "r2" });
  expect(await bus.count("build.requested", "r2")).toBe(1);
});

test("a handler that throws is redelivered, then acked once it succeeds", async ({ bus }) => {
  const deliveries: number[] = [];
  const consumption = await bus.consume("scheduler-build-requested", async (_payload, ctx) => {
    deliveries.push(ctx.deliveryCount);
    if (ctx.deliveryCount === 1) throw new Error("database blip");
  });
  await bus.publish("build.requested", "r3", request("r3"), { msgId: "r3" });
  const until = Date.now() + 10_000;
  while (deliveries.length < 2 && Date.now() < until) await sleep(20);
  await sleep(1500); // long enough for a third delivery, had the ack not landed
  await consumption.stop();
  expect(deliveries).toEqual([1, 2]);
});

test("a non-retryable failure ends the message: it is never delivered again", async ({ bus }) => {
  let deliveries = 0;
  const consumption = await bus.consume("scheduler-build-requested", async () => {
    deliveries += 1;
    throw new NonRetryableError("BuildConfig was deleted");
  });
  await bus.publish("build.requested", "r4", request("r4"), { msgId: "r4" });
  await sleep(2000);
  await consumption.stop();
  expect(deliveries).toBe(1);
});

test("a message that does not match its schema is terminated without reaching the handler", async ({
  bus,
  subjectPrefix,
}) => {
  let handled = 0;
  const consumption = await bus.consume("scheduler-build-requested", async () => {
    handled += 1;
  });
  // Bypass the typed publisher, as a buggy or foreign publisher would.
  bus.nc.publish(
    `${subjectPrefix}.build.requested.bad`,
    new TextEncoder().encode('{"v":1,"requestId":""}'),
  );
  await bus.publish("build.requested", "r5", request("r5"), { msgId: "r5" });
  const until = Date.now() + 5_000;
  while (handled < 1 && Date.now() < until) await sleep(20);
  await sleep(1000);
  await consumption.stop();
  expect(handled).toBe(1);
});

test("the typed publisher refuses a payload that does not match its schema, naming the field", async ({
  bus,
}) => {
  const bad = { ...request("r6"), namespace: 42 } as unknown as ReturnType<typeof request>;
  await expect(bus.publish("build.requested", "r6", bad, { msgId: "r6" })).rejects.toThrow(
    /namespace/,
  );
  expect(await bus.count("build.requested", "r6")).toBe(0);
});

test("a handler that fails while a dependency is down holds its message, and handles it again once it is back, spending no delivery", async ({
  infra,
  subjectPrefix,
}) => {
  let down: string | null = "postgres: unreachable";
  const held = await Bus.connect({
    servers: infra.natsUrl,
    prefix: subjectPrefix,
    name: "bus-test-held",
    logger,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    dependencies: async () => down,
  });
  try {
    await held.ensureStreams();
    const deliveries: number[] = [];
    const consumption = await held.consume("scheduler-build-requested", async (_payload, ctx) => {
      deliveries.push(ctx.deliveryCount);
      if (down !== null) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
    });
    await held.publish("build.requested", "h1", request("h1"), { msgId: "h1" });
    const until = Date.now() + 10_000;
    while (deliveries.length < 1 && Date.now() < until) await sleep(20);
    // Longer than a nak's first backoff (500 ms): a nak'ed message would be back by now.
    await sleep(2_000);
    expect(deliveries).toEqual([1]);
    down = null;
    while (deliveries.length < 2 && Date.now() < until + 10_000) await sleep(20);
    await sleep(1_000);
    await consumption.stop();
    // Handled again in the same delivery, and acked: never redelivered.
    expect(deliveries).toEqual([1, 1]);
  } finally {
    await held.drain();
  }
});

test("a consumer whose durable consumer is deleted under it makes it again and goes on", async ({
  bus,
}) => {
  const handled: string[] = [];
  const consumption = await bus.consume("scheduler-build-requested", async (payload) => {
    handled.push(payload.requestId);
  });
  try {
    await bus.publish("build.requested", "d1", request("d1"), { msgId: "d1" });
    const until = Date.now() + 10_000;
    while (!handled.includes("d1") && Date.now() < until) await sleep(20);
    const jsm = await bus.nc.jetstreamManager();
    await jsm.consumers.delete(bus.streamName("BUILD_EVENTS"), "scheduler-build-requested");
    await bus.publish("build.requested", "d2", request("d2"), { msgId: "d2" });
    // nats.js notices within its heartbeats (5 s with the bus's 10 s pulls), then pulls again.
    const deadline = Date.now() + 30_000;
    while (!handled.includes("d2") && Date.now() < deadline) await sleep(50);
    expect(handled).toContain("d2");
  } finally {
    await consumption.stop();
  }
});

test("a consumer takes no more messages than it can start, and one stopped mid-handler starts nothing more: the rest go to the next consumer at once", async ({
  bus,
}) => {
  const jsm = await bus.nc.jetstreamManager();
  const stream = bus.streamName("BUILD_EVENTS");
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const first: string[] = [];
  const consumption = await bus.consume(
    "scheduler-build-requested",
    async (payload) => {
      first.push(payload.requestId);
      await released;
    },
    { maxConcurrent: 2 },
  );
  for (const id of ["s1", "s2", "s3", "s4"])
    await bus.publish("build.requested", id, request(id), { msgId: id });
  const until = Date.now() + 10_000;
  while (first.length < 2 && Date.now() < until) await sleep(20);
  // Longer than a pull's round trip: whatever it would take ahead, it has by now.
  await sleep(1_000);
  // Two handlers busy, two messages taken: the other two wait in the stream, not in this process
  // (where their ack wait would run out unseen and JetStream hand them to someone else too).
  expect((await jsm.consumers.info(stream, "scheduler-build-requested")).num_ack_pending).toBe(2);
  const stopped = consumption.stop();
  await sleep(500);
  release();
  await stopped;
  expect(first.sort()).toEqual(["s1", "s2"]);
  // Both acked (an ack reaches the consumer a moment after the handler ends), nothing else taken.
  const acked = Date.now() + 2_000;
  let info = await jsm.consumers.info(stream, "scheduler-build-requested");
  while (info.num_ack_pending > 0 && Date.now() < acked) {
    await sleep(50);
    info = await jsm.consumers.info(stream, "scheduler-build-requested");
  }
  expect(info).toMatchObject({ num_ack_pending: 0, num_pending: 2, num_redelivered: 0 });
  const next: string[] = [];
  const started = Date.now();
  const again = await bus.consume("scheduler-build-requested", async (payload) => {
    next.push(payload.requestId);
  });
  try {
    while (next.length < 2 && Date.now() < started + 10_000) await sleep(20);
    expect(next.sort()).toEqual(["s3", "s4"]);
    expect(Date.now() - started).toBeLessThan(3_000);
  } finally {
    await again.stop();
  }
});

test("a service's connection waits for a NATS that is not up yet; any other connection fails at once", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "kiln-nats-late-"));
  const port = await freePort();
  const servers = `nats://127.0.0.1:${port}`;
  try {
    await expect(Bus.connect({ servers, name: "bus-test-at-once", logger })).rejects.toMatchObject({
      code: "CONNECTION_REFUSED",
    });
    const waiting = Bus.connect({ servers, name: "bus-test-late", logger, waitForServer: true });
    await sleep(1_500);
    const nats = await startNats({ stateDir, port });
    try {
      const bus = await waiting;
      expect(bus.readiness()).toBeNull();
      await bus.drain();
    } finally {
      await nats.stop();
    }
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});

test("publishIf stores an event only while the key's newest is the one it expects, and never after a newer one", async ({
  bus,
}) => {
  const status = (phase: "New" | "Pending" | "Running", attempt: number) => ({
    v: 1 as const,
    buildId: "b1",
    namespace: "default",
    name: "app-1",
    phase,
    attempt,
    at: new Date().toISOString(),
  });
  const onlyFirst = { expected: (newest: unknown) => newest === null };
  expect(
    await bus.publishIf("build.status-changed", "b1", status("New", 0), {
      msgId: "b1:New:0",
      ...onlyFirst,
    }),
  ).toBe(true);
  // Expected wrong: not sent at all.
  expect(
    await bus.publishIf("build.status-changed", "b1", status("New", 0), {
      msgId: "b1:New:0-again",
      ...onlyFirst,
    }),
  ).toBe(false);
  // Someone else stores a newer event between the read and the publish: JetStream refuses it.
  let raced = false;
  const afterNew = await bus.publishIf("build.status-changed", "b1", status("Pending", 0), {
    msgId: "b1:Pending:0",
    expected: (newest) => {
      if (!raced) {
        raced = true;
        void bus.publish("build.status-changed", "b1", status("Running", 1), {
          msgId: "b1:Running:1",
        });
      }
      return newest?.phase === "New";
    },
  });
  // The racing publish is sent first on the same connection, so the server stores it first.
  expect(afterNew).toBe(false);
  expect(await bus.count("build.status-changed", "b1")).toBe(2);
  expect(await bus.lastEvent("build.status-changed", "b1")).toMatchObject({
    phase: "Running",
    attempt: 1,
  });
});
