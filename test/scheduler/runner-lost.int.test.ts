import { applyResources, getBuild } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { test } from "../support/scheduler-only.js";
import { expect } from "vitest";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a build whose runner dies on every delivery ends Error with RunnerLost, and leaves nothing queued", async ({
  scheduling,
}) => {
  const { infra, db, bus, scheduler } = scheduling;
  // A runner that takes the build and dies before finishing it, every time (a crash loop).
  let deliveries = 0;
  const crashingRunner = await bus.consume("build-runner-dispatched", async () => {
    deliveries += 1;
    throw new Error("runner process died");
  });
  try {
    await applyResources(
      db.db,
      parseResources([
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "app" },
          spec: { source: { git: { uri: "file:///x" } }, strategy: { type: "Docker" } },
        },
      ]),
      infra.secrets,
    );
    await scheduler.start();
    await bus.publish(
      "build.requested",
      "r1",
      {
        v: 1,
        requestId: "r1",
        namespace: "default",
        buildConfig: "app",
        env: [],
        cause: { type: "Manual", message: "t" },
        requestedAt: new Date().toISOString(),
      },
      { msgId: "r1" },
    );
    const until = Date.now() + 20_000;
    let build = await getBuild(db.db, "default", "app-1");
    while (build?.phase !== "Error" && Date.now() < until) {
      await sleep(100);
      build = await getBuild(db.db, "default", "app-1");
    }
    expect(build).toMatchObject({ phase: "Error", reason: "RunnerLost" });
    expect(deliveries).toBe(3);
    // Heard on the bus too, as the attempt the runners died on.
    await expect
      .poll(() => bus.lastEvent("build.status-changed", build!.id))
      .toMatchObject({ phase: "Error", attempt: 3, reason: "RunnerLost", name: "app-1" });
    // The exhausted dispatch (which may carry registry credentials) is gone from the work queue.
    expect(await bus.count("build.dispatched", build!.id)).toBe(0);
  } finally {
    await crashingRunner.stop();
  }
});
