import type { Bus, BuildStatusChangedV1 } from "@kiln/bus";
import { applyResources, createDatabase, getBuild, listBuilds } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { BuildMetrics, createLogger, createMetricsRegistry } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { connectTestBus, integrationTest as test } from "@kiln/testing";
import { expect } from "vitest";

// The phases the scheduler gives a build itself are heard on the bus as build.status-changed,
// with a real scheduler, NATS and PostgreSQL, and a stand-in runner where one is needed.

const logger = createLogger({
  service: "scheduler-test",
  level: (process.env.TEST_LOG as "info") ?? "silent",
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const bc = (name: string, runPolicy: string) => ({
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name },
  spec: {
    source: { git: { uri: "file:///x" } },
    strategy: { type: "Docker" },
    runPolicy,
    // Every build stays to be looked at (the default keeps 5).
    successfulBuildsHistoryLimit: 50,
  },
});

const request = (requestId: string, buildConfig: string) => ({
  v: 1 as const,
  requestId,
  namespace: "default",
  buildConfig,
  env: [],
  cause: { type: "Manual" as const, message: "test" },
  requestedAt: new Date().toISOString(),
});

async function statuses(bus: Bus, buildId: string): Promise<BuildStatusChangedV1[]> {
  const out: BuildStatusChangedV1[] = [];
  for await (const e of bus.read("build.status-changed", buildId, { follow: false })) out.push(e);
  return out;
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await what();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(50);
    value = await what();
  }
  return value;
}

const kilnBuildsTotal = async (registry: ReturnType<typeof createMetricsRegistry>) =>
  (await registry.metrics()).split("\n").filter((l) => l.startsWith("kiln_builds_total{"));

test("a requested build is heard as New then Pending with its name, a queued Serial build the scheduler cancels as Cancelled, and its own consumer records and counts nothing twice", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const db = createDatabase(database.url);
  const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "scheduler-test" });
  const registry = createMetricsRegistry();
  const scheduler = new BuildScheduler({
    bus,
    db: db.db,
    logger,
    registry: infra.registry.address,
    runnerSealingKey: infra.sealingKeys.publicKey,
    secrets: infra.secrets,
    metrics: new BuildMetrics(registry),
  });
  try {
    await applyResources(db.db, parseResources([bc("app", "Serial")]), infra.secrets);
    await scheduler.start();
    // No runner: app-1 is dispatched and stays Pending, app-2 waits behind it (Serial), New.
    await bus.publish("build.requested", "r1", request("r1", "app"), { msgId: "r1" });
    const one = await until(
      () => getBuild(db.db, "default", "app-1"),
      (b) => b?.phase === "Pending",
    );
    await bus.publish("build.requested", "r2", request("r2", "app"), { msgId: "r2" });
    const two = await until(
      () => getBuild(db.db, "default", "app-2"),
      (b) => b !== null,
    );
    const heardOne = await until(
      () => statuses(bus, one!.id),
      (s) => s.length >= 2,
    );
    expect(heardOne).toMatchObject([
      { buildId: one!.id, name: "app-1", namespace: "default", phase: "New", attempt: 0 },
      { buildId: one!.id, name: "app-1", namespace: "default", phase: "Pending", attempt: 0 },
    ]);
    expect(Date.parse(heardOne[0]!.at)).toBe(one!.createdAt.getTime());
    expect(
      await until(
        () => statuses(bus, two!.id),
        (s) => s.length >= 1,
      ),
    ).toMatchObject([{ name: "app-2", phase: "New", attempt: 0 }]);

    await bus.publish(
      "build.cancel-requested",
      two!.id,
      {
        v: 1,
        buildId: two!.id,
        namespace: "default",
        name: "app-2",
        requestedAt: new Date().toISOString(),
      },
      { msgId: `${two!.id}:cancel` },
    );
    const heardTwo = await until(
      () => statuses(bus, two!.id),
      (s) => s.length >= 2,
    );
    expect(heardTwo.map((s) => [s.phase, s.attempt])).toEqual([
      ["New", 0],
      ["Cancelled", 0],
    ]);
    expect(heardTwo[1]).toMatchObject({
      name: "app-2",
      reason: "CancelledBuild",
      message: "cancelled before it started",
    });
    // Its own consumer has heard all four by now (it applies events in seconds): nothing moved,
    // and the cancel is counted once.
    await sleep(1500);
    expect(await getBuild(db.db, "default", "app-1")).toMatchObject({ phase: "Pending" });
    expect(await getBuild(db.db, "default", "app-2")).toMatchObject({ phase: "Cancelled" });
    expect(await kilnBuildsTotal(registry)).toEqual([
      'kiln_builds_total{namespace="default",strategy="Docker",phase="Cancelled",reason="CancelledBuild"} 1',
    ]);
    // Heard once each, even after the redelivered request announced app-1 again.
    await bus.publish("build.requested", "r1", request("r1", "app"), { msgId: "r1-again" });
    await sleep(1000);
    expect((await statuses(bus, one!.id)).map((s) => s.phase)).toEqual(["New", "Pending"]);
  } finally {
    await scheduler.stop();
    await bus.drain();
    await db.close();
  }
});

test("a runner that reports before the scheduler's Pending commits keeps the newest status: the scheduler's never lands after a runner's", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const db = createDatabase(database.url);
  const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "scheduler-test" });
  const scheduler = new BuildScheduler({
    bus,
    db: db.db,
    logger,
    registry: infra.registry.address,
    runnerSealingKey: infra.sealingKeys.publicKey,
    secrets: infra.secrets,
  });
  // A runner as quick as one can be: Running and Complete the moment the dispatch arrives,
  // which is before the scheduler's transaction commits Pending (the dispatch goes first).
  const runner = await bus.consume(
    "build-runner-dispatched",
    async (d) => {
      for (const phase of ["Running", "Complete"] as const)
        await bus.publish(
          "build.status-changed",
          d.buildId,
          {
            v: 1,
            buildId: d.buildId,
            namespace: d.namespace,
            name: d.name,
            phase,
            attempt: 1,
            at: new Date().toISOString(),
          },
          { msgId: `${d.buildId}:${phase}:1` },
        );
    },
    { maxConcurrent: 16 },
  );
  try {
    await applyResources(db.db, parseResources([bc("fast", "Parallel")]), infra.secrets);
    await scheduler.start();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        bus.publish("build.requested", `f${i}`, request(`f${i}`, "fast"), { msgId: `f${i}` }),
      ),
    );
    const builds = await until(
      () => listBuilds(db.db, "default"),
      (bs) => bs.length === 20 && bs.every((b) => b.phase === "Complete"),
    );
    expect(builds.map((b) => b.phase)).toEqual(Array(20).fill("Complete"));
    await sleep(500);
    for (const build of builds) {
      const heard = await statuses(bus, build.id);
      const firstRunner = heard.findIndex((s) => s.attempt > 0);
      // The scheduler's New (and Pending, when it was in time) come before the runner's.
      expect(heard.slice(firstRunner).map((s) => [s.phase, s.attempt])).toEqual([
        ["Running", 1],
        ["Complete", 1],
      ]);
      expect(heard[0]).toMatchObject({ phase: "New", attempt: 0 });
      expect(await bus.lastEvent("build.status-changed", build.id)).toMatchObject({
        phase: "Complete",
        attempt: 1,
      });
    }
  } finally {
    await runner.stop();
    await scheduler.stop();
    await bus.drain();
    await db.close();
  }
});
