import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect } from "nats";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo, natsAdminOptions } from "@kiln/testing";
import {
  buildProcesses,
  descendantsOf,
  mountsBelow,
  runnerIdOf,
  stillRunning,
  type HostProcess,
} from "../support/build-processes.js";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { runnerContainers } from "../support/runner-store.js";

// What SIGTERM and a crash do to the builds of a real build-runner process, seen from outside as
// a user (the API, `kiln logs`) and as the machine's owner (ps, the work dir, `buildah
// containers` in the build user's store, the mount tables).

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function buildConfig(name: string, uri: string, runPolicy = "Serial") {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      runPolicy,
      source: { git: { uri } },
      strategy: { type: "Docker" },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

async function until<T>(
  what: string,
  check: () => Promise<T | null> | T | null,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Waits until the build's log shows `marker` printed by its RUN step: the step is running. */
async function waitForStep(call: ReturnType<typeof api>, build: string, marker: string) {
  await until(
    `${build}'s RUN step`,
    async () => {
      const log = await call("GET", `/apis/v1/namespaces/default/builds/${build}/log`);
      return log.text.split("\n").some((line) => line.trim() === marker) || null;
    },
    90_000,
  );
}

/** The work dir of the one build of BuildConfig `name` running: `<root>/kiln-runner-<id>/default-<name>-…`. */
async function buildWorkDir(root: string, name: string) {
  return until(`${name}'s work dir`, async () => {
    for (const runnerDir of await readdir(root)) {
      if (!runnerDir.startsWith("kiln-runner-") || runnerDir.endsWith(".lock")) continue;
      const builds = await readdir(join(root, runnerDir)).catch(() => []);
      const build = builds.find((b) => b.startsWith(`default-${name}-`));
      if (build)
        return {
          runnerId: runnerDir.slice("kiln-runner-".length),
          runnerDir: join(root, runnerDir),
          dir: join(root, runnerDir, build),
        };
    }
    return null;
  });
}

/**
 * The processes of a build now: non-empty, with buildah and the step's own shell among them
 * (the tests' RUN steps are `echo <marker> && sleep … && echo done`, so the shell stays).
 */
function runningBuild(marker: string, runnerDir: string): HostProcess[] {
  const found = buildProcesses(marker, [runnerDir]);
  const commands = found.map((p) => p.args).join("\n");
  expect(commands).toMatch(/(^|\/)buildah /m);
  expect(commands).toContain(`echo ${marker}`);
  return found;
}

async function dispatchConsumer(
  subjectPrefix: string,
  infra: Parameters<typeof natsAdminOptions>[0],
) {
  const nc = await connect(natsAdminOptions(infra));
  try {
    const jsm = await nc.jetstreamManager();
    return await jsm.consumers.info(
      `${subjectPrefix.toUpperCase()}_BUILD_DISPATCH`,
      "build-runner-dispatched",
    );
  } finally {
    await nc.close();
  }
}

test("SIGTERM past the grace kills a running build's whole process tree, leaves nothing of it, and hands it back: the next runner builds it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const marker = `kiln-stop-${subjectPrefix}`;
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${marker} && sleep 60 && echo done\n`,
  });
  const graceMs = 3_000;
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_SHUTDOWN_GRACE_MS: String(graceMs) },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("long", repo.url)] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/long/instantiate", {});
  await waitForBuild(call, "long-1", (p) => p === "Running");
  await waitForStep(call, "long-1", marker);
  const work = await buildWorkDir(running.runnerWorkDir, "long");
  const processes = runningBuild(marker, work.runnerDir);
  // Each RUN step gets its network from a slirp4netns of its own: that must go too.
  expect(processes.some((p) => /(^|\/)slirp4netns /.test(p.args))).toBe(true);
  const containers = (await runnerContainers(infra)).filter((c) => c.runner === work.runnerId);
  expect(containers.length).toBeGreaterThan(0);

  const runner = running.processes.get("build-runner")!;
  const signalled = Date.now();
  runner.signal("SIGTERM");
  const exit = await runner.exited;
  // The grace, then buildah's own stop: well within the 8 s the runner allows itself past it.
  expect(Date.now() - signalled).toBeLessThan(graceMs + 8_000);
  expect(exit.code).toBe(143);

  // Nothing of the build outlives the runner: no process, no work dir, no container, no mount.
  expect(stillRunning(processes)).toEqual([]);
  expect(buildProcesses(marker, [work.runnerDir])).toEqual([]);
  expect(existsSync(work.dir)).toBe(false);
  expect(existsSync(work.runnerDir)).toBe(false);
  const left = (await runnerContainers(infra)).filter((c) => c.runner === work.runnerId);
  expect(left).toEqual([]);
  expect(await mountsBelow(running.runnerStorageDir)).toEqual([]);

  // Handed back: the build waits for a runner again, and says why.
  const handedBack = await waitForBuild(call, "long-1", (p) => p === "Pending", 10_000);
  expect(handedBack.status.message).toBe(
    "the build-runner stopped during attempt 1; waiting for a runner to start it again",
  );
  const log = await call("GET", "/apis/v1/namespaces/default/builds/long-1/log");
  expect(log.text).toContain(
    "kiln: the build-runner is shutting down: this build (attempt 1) was stopped and is handed back to run again",
  );
  // The runner's own mark on its containers never shows in a build's log.
  expect(log.text).not.toContain("KILN_BUILD_OWNER");

  // The next runner takes it at once (a nak, not an ack wait) and builds it to the end.
  const startedAgain = Date.now();
  await running.startRunner({ logName: "second" });
  const again = await waitForBuild(call, "long-1", (p) => p === "Running", 20_000);
  expect(again.status.message).toBeUndefined();
  expect(Date.now() - startedAgain).toBeLessThan(20_000);
  const done = await waitForBuild(
    call,
    "long-1",
    (p) => p === "Complete" || p === "Failed" || p === "Error",
    150_000,
  );
  expect(done.status.phase).toBe("Complete");
  // The second attempt's log is kept beside the first's (each attempt's lines are its own).
  const full = await call("GET", "/apis/v1/namespaces/default/builds/long-1/log");
  expect(full.text.split("\n").filter((line) => line.trim() === marker)).toHaveLength(2);
  expect(full.text.split("\n").some((line) => line.trim() === "done")).toBe(true);
});

test("SIGTERM within the grace lets the running build complete and takes no new build: the queued one waits for the next runner", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const marker = `kiln-finish-${subjectPrefix}`;
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${marker} && sleep 5\n`,
  });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: {
      BUILD_RUNNER_SHUTDOWN_GRACE_MS: "60000",
      // One build at a time: the second is dispatched and waits for the runner, not for the policy.
      BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "1",
    },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("short", repo.url, "Parallel")] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/short/instantiate", {});
  await waitForBuild(call, "short-1", (p) => p === "Running");
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/short/instantiate", {});
  await waitForBuild(call, "short-2", (p) => p === "Pending");
  await waitForStep(call, "short-1", marker);

  const runner = running.processes.get("build-runner")!;
  runner.signal("SIGTERM");
  const exit = await runner.exited;
  expect(exit.code).toBe(143);
  const first = await waitForBuild(call, "short-1", (p) => p !== "Running", 10_000);
  expect(first.status.phase).toBe("Complete");
  // The runner exited after the build, so the build ended before it: not one more was taken.
  expect(Date.parse(first.status.completionTimestamp)).toBeLessThanOrEqual(Date.now());
  const second = await waitForBuild(call, "short-2", () => true);
  expect(second.status.phase).toBe("Pending");
  expect(second.status.startTimestamp).toBeUndefined();
  // Its dispatch was never delivered to the stopping runner, not even to be handed back.
  expect(await dispatchConsumer(subjectPrefix, infra)).toMatchObject({
    num_ack_pending: 0,
    num_redelivered: 0,
    num_pending: 1,
  });

  await running.startRunner({ logName: "second" });
  const built = await waitForBuild(
    call,
    "short-2",
    (p) => p === "Complete" || p === "Failed" || p === "Error",
    120_000,
  );
  expect(built.status.phase).toBe("Complete");
});

test("a runner killed with its builds' processes (a crash) leaves a work dir and a container, which the next runner removes at start, and a live runner's stay", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const markers = { a: `kiln-crash-a-${subjectPrefix}`, b: `kiln-crash-b-${subjectPrefix}` };
  await using repoA = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${markers.a} && sleep 40 && echo done\n`,
  });
  await using repoB = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${markers.b} && sleep 40 && echo done\n`,
  });
  const oneAtATime = { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "1" };
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: oneAtATime,
  });
  // A second runner on the same work dir and store, each taking one build.
  const runners = [
    running.processes.get("build-runner")!,
    await running.startRunner({ logName: "live", extraEnv: oneAtATime }),
  ];
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [buildConfig("crash-a", repoA.url), buildConfig("crash-b", repoB.url)],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/crash-a/instantiate", {});
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/crash-b/instantiate", {});
  await waitForStep(call, "crash-a-1", markers.a);
  await waitForStep(call, "crash-b-1", markers.b);
  const a = await buildWorkDir(running.runnerWorkDir, "crash-a");
  const b = await buildWorkDir(running.runnerWorkDir, "crash-b");
  expect(a.runnerId).not.toBe(b.runnerId);

  // The runner of crash-a dies with every process of its builds at once, as in a machine's
  // crash or the OOM killer's sweep: nothing gets to clean up.
  const victim = runners.find((r) => r.pid !== undefined && runnerIdOf(r.pid) === a.runnerId);
  expect(victim).toBeDefined();
  const victims = [
    { pid: victim!.pid! },
    ...descendantsOf(victim!.pid!),
    ...buildProcesses(markers.a, [a.runnerDir]),
  ];
  for (const p of victims) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  await victim!.exited;
  const liveBuild = runningBuild(markers.b, b.runnerDir);
  await until("crash-a's processes gone", () =>
    buildProcesses(markers.a, [a.runnerDir]).length === 0 ? true : null,
  );
  // What the crash left: crash-a's work dir and its container.
  expect(existsSync(a.dir)).toBe(true);
  const aContainers = (await runnerContainers(infra)).filter((c) => c.runner === a.runnerId);
  expect(aContainers.length).toBeGreaterThan(0);
  const bContainers = (await runnerContainers(infra)).filter((c) => c.runner === b.runnerId);
  expect(bContainers.length).toBeGreaterThan(0);

  // A runner starting now removes them (it answers /healthz only after), and nothing of the
  // live runner's build.
  const next = await running.startRunner({ logName: "next" });
  expect(existsSync(a.runnerDir)).toBe(false);
  const containersNow = await runnerContainers(infra);
  expect(containersNow.filter((c) => c.runner === a.runnerId)).toEqual([]);
  expect(
    containersNow
      .filter((c) => c.runner === b.runnerId)
      .map((c) => c.id)
      .sort(),
  ).toEqual(bContainers.map((c) => c.id).sort());
  expect(existsSync(b.dir)).toBe(true);
  // The live build's buildah and its step (the network hook's watcher polls with short sleeps
  // of its own, which come and go).
  const liveSteps = liveBuild.filter((p) => !p.args.startsWith("sleep 0.2"));
  expect(stillRunning(liveSteps)).toEqual(liveSteps);
  const nextLog = await readFile(next.logFile!, "utf8");
  expect(nextLog).toContain("removed what stopped runners left behind");

  // Both builds end: the live runner's as it would have, the crashed one's redelivered (its
  // runner's heartbeat stopped: JetStream's ack wait) to a runner that builds it again.
  for (const name of ["crash-b-1", "crash-a-1"]) {
    const build = await waitForBuild(
      call,
      name,
      (p) => p === "Complete" || p === "Failed" || p === "Error",
      150_000,
    );
    expect(build.status.phase).toBe("Complete");
  }
});

test("a runner killed alone (kill -9) takes its build's processes and containers with it; its work dir goes when a runner starts", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const marker = `kiln-orphan-${subjectPrefix}`;
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${marker} && sleep 60 && echo done\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("orphan", repo.url)] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/orphan/instantiate", {});
  await waitForStep(call, "orphan-1", marker);
  const work = await buildWorkDir(running.runnerWorkDir, "orphan");
  const processes = runningBuild(marker, work.runnerDir);

  const runner = running.processes.get("build-runner")!;
  runner.signal("SIGKILL");
  await runner.exited;
  // buildah is told (SIGTERM, as its parent died) and stops its step and removes its
  // container itself: no orphaned build runs on.
  await until(
    "the build's processes gone",
    () => (stillRunning(processes).length === 0 ? true : null),
    15_000,
  );
  expect(buildProcesses(marker, [work.runnerDir])).toEqual([]);
  await until(
    "the build's containers gone",
    async () =>
      (await runnerContainers(infra)).every((c) => c.runner !== work.runnerId) ? true : null,
    15_000,
  );
  expect(await mountsBelow(running.runnerStorageDir)).toEqual([]);
  // Only the work dir is left, for the next runner to remove at its start.
  expect(existsSync(work.dir)).toBe(true);
  await running.startRunner({ logName: "next" });
  expect(existsSync(work.runnerDir)).toBe(false);
});

test("a RUN step whose buildah is killed outright (no chance to stop it) is killed too, with its network: no step outlives the buildah that runs it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // What a runner killed with -9 between `runc create` and `runc start` leaves, made on purpose:
  // buildah and its runtime subprocess die at once, and nothing of theirs can stop the step.
  const marker = `kiln-reaped-${subjectPrefix}`;
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${marker} && sleep 60 && echo done\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("reaped", repo.url)] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/reaped/instantiate", {});
  await waitForStep(call, "reaped-1", marker);
  const work = await buildWorkDir(running.runnerWorkDir, "reaped");
  const processes = runningBuild(marker, work.runnerDir);
  const buildahs = processes.filter(
    (p) => /(^|\/)buildah /.test(p.args) || p.args.startsWith("buildah-oci-runtime"),
  );
  expect(buildahs.map((p) => p.args.split(" ")[0])).toContain("buildah-oci-runtime");
  const step = processes.filter((p) => p.args.includes(`echo ${marker}`) || p.args === "sleep 60");
  expect(step.length).toBeGreaterThan(0);

  for (const p of buildahs) process.kill(p.pid, "SIGKILL");
  await until("the step gone", () => (stillRunning(step).length === 0 ? true : null), 10_000);
  // The step's slirp4netns (with the egress network) and the hook's watcher end with it.
  await until(
    "nothing of the build left",
    () => (stillRunning(processes).length === 0 ? true : null),
    10_000,
  );
  const build = await waitForBuild(
    call,
    "reaped-1",
    (p) => p === "Complete" || p === "Failed" || p === "Error",
    60_000,
  );
  expect(build.status.phase).not.toBe("Complete");
});
