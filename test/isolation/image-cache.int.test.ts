import { randomBytes } from "node:crypto";
import { afterEach, expect } from "vitest";
import { buildBusyboxImage } from "@kiln/infra";
import { integrationTest as test, type RegistryEvent } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { runnerBuildah } from "../support/runner-store.js";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const layerPulls = (events: RegistryEvent[], repository: string) =>
  events.filter(
    (e) =>
      e.action === "pull" &&
      e.target.repository === repository &&
      !(e.target.mediaType ?? "").includes("manifest"),
  ).length;

test("pulled base images stay in the runner's store, so the next build pulls no layer, until the cache limit evicts the least recently used", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // Two bases of about 3 MB each (busybox and 1 MB of noise, compressed or not); room for one.
  const base = async (name: string) =>
    (
      await buildBusyboxImage({
        storageDir: baseImage.storageDir,
        authFile: baseImage.authFile,
        ref: `${infra.registry.address}/cache-${subjectPrefix}/${name}:latest`,
        files: { "/noise": randomBytes(768 * 1024).toString("base64") },
      })
    ).ref;
  const first = await base("first");
  const second = await base("second");
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_IMAGE_CACHE_BYTES: String(5_000_000) },
  });
  // The worker's runner store is shared by its tests: start from an empty one.
  for (const id of (await runnerBuildah(infra, "images", "--quiet", "--no-trunc"))
    .split("\n")
    .filter(Boolean))
    await runnerBuildah(infra, "rmi", "--force", id).catch(() => undefined);
  const call = api(running);
  const bc = (name: string, from: string) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: { source: { dockerfile: `FROM ${from}\nRUN true\n` }, strategy: { type: "Docker" } },
  });
  expect(
    (
      await call("POST", "/apis/v1/apply", {
        items: [bc("on-first", first), bc("on-second", second)],
      })
    ).status,
  ).toBe(200);
  const build = async (name: string) => {
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      {},
    );
    const done = await waitForBuild(call, started.json.metadata.name, finished);
    expect(done.status.phase).toBe("Complete");
  };
  const stored = async () =>
    (await runnerBuildah(infra, "images", "--format", "{{.Name}}:{{.Tag}}"))
      .split("\n")
      .filter(Boolean);
  const eventually = async (check: () => Promise<boolean>) => {
    for (
      const deadline = Date.now() + 15_000;
      Date.now() < deadline;
      await new Promise((r) => setTimeout(r, 200))
    )
      if (await check()) return true;
    return check();
  };

  infra.notifications.received.length = 0;
  await build("on-first");
  const events = () => infra.notifications.received.flatMap((n) => n.body.events ?? []);
  const firstRepo = `cache-${subjectPrefix}/first`;
  expect(
    layerPulls(events(), firstRepo),
    "the first build pulls the base's layers",
  ).toBeGreaterThan(0);
  expect(await stored()).toContain(first);

  infra.notifications.received.length = 0;
  await build("on-first");
  expect(
    layerPulls(events(), firstRepo),
    "the second build from the same base pulls no layer",
  ).toBe(0);

  await build("on-second");
  // Past the limit, the least recently used base goes; the one just used stays.
  expect(await eventually(async () => !(await stored()).includes(first))).toBe(true);
  expect(await stored()).toContain(second);
  infra.notifications.received.length = 0;
  await build("on-second");
  expect(layerPulls(events(), `cache-${subjectPrefix}/second`)).toBe(0);
});
