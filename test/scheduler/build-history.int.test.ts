import { applyResources, listBuilds } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { createBuildForRequest } from "@kiln/scheduler";
import { test } from "../support/scheduler-only.js";
import { expect } from "vitest";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("finished builds beyond the BuildConfig's history limits are pruned, oldest first", async ({
  scheduling,
}) => {
  const { infra, db, bus, scheduler } = scheduling;
  await applyResources(
    db.db,
    parseResources([
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: "file:///x" } },
          strategy: { type: "Docker" },
          successfulBuildsHistoryLimit: 2,
          failedBuildsHistoryLimit: 1,
        },
      },
    ]),
    infra.secrets,
  );
  await scheduler.start();
  // Six builds: 1-4 complete, 5-6 fail; the runner's status events arrive over the bus.
  const made = [];
  for (let i = 1; i <= 6; i++) {
    const { build } = await createBuildForRequest(
      db.db,
      {
        requestId: `r${i}`,
        namespace: "default",
        buildConfig: "app",
        env: [],
        cause: { type: "Manual", message: "t" },
      },
      { registry: infra.registry.address },
    );
    made.push(build);
  }
  for (const build of made) {
    const phase = build.number <= 4 ? "Complete" : "Failed";
    for (const p of ["Running", phase] as const) {
      await bus.publish(
        "build.status-changed",
        build.id,
        {
          v: 1,
          buildId: build.id,
          namespace: "default",
          name: build.name,
          phase: p,
          attempt: 1,
          at: new Date().toISOString(),
          ...(p === "Failed" ? { reason: "DockerBuildFailed" as const } : {}),
        },
        { msgId: `${build.id}:${p}` },
      );
    }
  }
  const until = Date.now() + 10_000;
  let names: string[] = [];
  while (Date.now() < until) {
    names = (await listBuilds(db.db, "default")).map((b) => b.name).sort();
    if (names.length === 3) break;
    await sleep(50);
  }
  await sleep(300);
  names = (await listBuilds(db.db, "default")).map((b) => b.name).sort();
  expect(names).toEqual(["app-3", "app-4", "app-6"]);
});
