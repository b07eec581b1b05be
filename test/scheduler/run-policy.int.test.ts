import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo, type BaseImage, type TestDatabase, type WorkerInfra } from "@kiln/testing";
import { api, finished, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const at = (t: string | undefined) => (t ? Date.parse(t) : NaN);

type Fixtures = { infra: WorkerInfra; baseImage: BaseImage; database: TestDatabase; subjectPrefix: string };

async function setUp({ infra, baseImage, database, subjectPrefix }: Fixtures, runPolicy: string, seconds = 2): Promise<ReturnType<typeof api>> {
  const repo = await makeGitRepo({ Dockerfile: `FROM ${baseImage.ref}\nRUN sleep ${seconds}\n` });
  // Two runner slots: only the run policy can keep these builds apart.
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix, buildahStorageDir: baseImage.storageDir, extraEnv: { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "2" } });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [{ apiVersion: "kiln.dev/v1", kind: "BuildConfig", metadata: { name: "app" }, spec: { source: { git: { uri: repo.url } }, strategy: { type: "Docker" }, runPolicy } }],
  });
  return call;
}

test("Serial runs a BuildConfig's builds one at a time, in number order", async ({ infra, baseImage, database, subjectPrefix }) => {
  const call = await setUp({ infra, baseImage, database, subjectPrefix }, "Serial");
  for (let i = 0; i < 3; i++) expect((await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {})).status).toBe(201);
  const builds = [];
  for (let n = 1; n <= 3; n++) builds.push(await waitForBuild(call, `app-${n}`, finished, 120_000));
  expect(builds.map((b) => b.status.phase)).toEqual(["Complete", "Complete", "Complete"]);
  expect(at(builds[1].status.startTimestamp)).toBeGreaterThanOrEqual(at(builds[0].status.completionTimestamp));
  expect(at(builds[2].status.startTimestamp)).toBeGreaterThanOrEqual(at(builds[1].status.completionTimestamp));
});

test("SerialLatestOnly cancels the queued builds a newer one supersedes, never the running one", async ({ infra, baseImage, database, subjectPrefix }) => {
  const call = await setUp({ infra, baseImage, database, subjectPrefix }, "SerialLatestOnly");
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  await waitForBuild(call, "app-1", (p) => p === "Running");
  for (let i = 0; i < 3; i++) await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  const [one, two, three, four] = [
    await waitForBuild(call, "app-1", finished),
    await waitForBuild(call, "app-2", finished),
    await waitForBuild(call, "app-3", finished),
    await waitForBuild(call, "app-4", finished),
  ];
  expect(one.status.phase).toBe("Complete");
  expect([two.status.phase, three.status.phase]).toEqual(["Cancelled", "Cancelled"]);
  expect(two.status.message).toContain("SerialLatestOnly");
  expect(four.status.phase).toBe("Complete");
  expect(at(four.status.startTimestamp)).toBeGreaterThanOrEqual(at(one.status.completionTimestamp));
});

test("Parallel starts a BuildConfig's builds together", async ({ infra, baseImage, database, subjectPrefix }) => {
  // Long enough builds that a busy machine cannot finish one before the other starts.
  const call = await setUp({ infra, baseImage, database, subjectPrefix }, "Parallel", 8);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  const [a, b] = [await waitForBuild(call, "app-1", finished), await waitForBuild(call, "app-2", finished)];
  expect([a.status.phase, b.status.phase]).toEqual(["Complete", "Complete"]);
  // They overlapped: the second started before the first finished.
  expect(at(b.status.startTimestamp)).toBeLessThan(at(a.status.completionTimestamp));
});
