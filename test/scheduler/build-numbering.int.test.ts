import { applyResources, createDatabase, listBuilds, getResource } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { createLogger } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { connectTestBus, integrationTest as test } from "@kiln/testing";
import { expect } from "vitest";

const logger = createLogger({ service: "scheduler-test", level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("concurrent requests get distinct consecutive numbers, and a redelivered request makes no second build", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const db = createDatabase(database.url);
  const bus = await connectTestBus(infra, {
    prefix: subjectPrefix,
    name: "scheduler-test",
    logger,
  });
  // Two schedulers on one bus, as when the service is scaled out: they share the durable consumer.
  const schedulers = [0, 1].map(
    () =>
      new BuildScheduler({
        bus,
        db: db.db,
        logger,
        registry: infra.registry.address,
        runnerSealingKey: infra.sealingKeys.publicKey,
        secrets: infra.secrets,
      }),
  );
  try {
    await applyResources(
      db.db,
      parseResources([
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "app" },
          // Parallel: every build is dispatched at once (Serial, the default, would queue them).
          spec: {
            source: { git: { uri: "file:///x" } },
            strategy: { type: "Docker" },
            output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
            runPolicy: "Parallel",
          },
        },
      ]),
      infra.secrets,
    );
    for (const s of schedulers) await s.start();
    const request = (id: string) => ({
      v: 1 as const,
      requestId: id,
      namespace: "default",
      buildConfig: "app",
      env: [],
      cause: { type: "Manual" as const, message: "test" },
      requestedAt: new Date().toISOString(),
    });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        bus.publish("build.requested", `req${i}`, request(`req${i}`), { msgId: `req${i}` }),
      ),
    );
    // The same request again under another message id: what a publisher retry after the
    // duplicate window, or a redelivery after a crash, looks like to the scheduler.
    await bus.publish("build.requested", "req7", request("req7"), { msgId: "req7-retry" });

    const until = Date.now() + 20_000;
    let builds = await listBuilds(db.db, "default");
    while (
      (builds.length < 20 || builds.some((b) => b.phase !== "Pending")) &&
      Date.now() < until
    ) {
      await sleep(50);
      builds = await listBuilds(db.db, "default");
    }
    await sleep(500);
    builds = await listBuilds(db.db, "default");
    expect(builds.map((b) => b.number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(new Set(builds.map((b) => b.name)).size).toBe(20);
    expect(builds.every((b) => b.phase === "Pending")).toBe(true);
    expect(builds[0]?.spec.output.image).toBe(`${infra.registry.address}/default/app:latest`);
    const bc = await getResource(db.db, "BuildConfig", "default", "app");
    expect((bc as { lastVersion: number }).lastVersion).toBe(20);
    // One dispatch per build, none doubled.
    const dispatched = await Promise.all(builds.map((b) => bus.count("build.dispatched", b.id)));
    expect(dispatched.every((n) => n === 1)).toBe(true);
  } finally {
    for (const s of schedulers) await s.stop();
    await bus.drain();
    await db.close();
  }
});
