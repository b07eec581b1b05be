import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect } from "nats";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo, natsAdminOptions } from "@kiln/testing";
import {
  api,
  repoRoot,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function buildConfig(name: string, uri: string) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri } },
      strategy: { type: "Docker" },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

test("SIGTERM lets the running build finish, acks it exactly once, then exits 143", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN sleep 3\nCMD ["true"]\n`,
  });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_SHUTDOWN_GRACE_MS: "60000" },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("slow", repo.url)] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/slow/instantiate", {});
  await waitForBuild(call, "slow-1", (p) => p === "Running");

  const runner = running.processes.get("build-runner")!;
  runner.signal("SIGTERM");
  const exit = await runner.exited;
  expect(exit.code).toBe(143);
  const build = await waitForBuild(
    call,
    "slow-1",
    (p) => p === "Complete" || p === "Failed" || p === "Error",
    30_000,
  );
  expect(build.status.phase).toBe("Complete");

  const nc = await connect(natsAdminOptions(infra));
  try {
    const jsm = await nc.jetstreamManager();
    const consumer = await jsm.consumers.info(
      `${subjectPrefix.toUpperCase()}_BUILD_DISPATCH`,
      "build-runner-dispatched",
    );
    expect(consumer.num_ack_pending).toBe(0);
    expect(consumer.num_redelivered).toBe(0);
    expect(consumer.num_pending).toBe(0);
  } finally {
    await nc.close();
  }
});

test("cancel-build stops a running build's whole process tree and the build ends Cancelled", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const marker = `kiln-cancel-${subjectPrefix}`;
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ${marker} && sleep 120\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [buildConfig("long", repo.url)] });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/long/instantiate", {});
  await waitForBuild(call, "long-1", (p) => p === "Running");
  // Wait until the Dockerfile's RUN is really executing.
  const until = Date.now() + 60_000;
  for (;;) {
    const log = await call("GET", "/apis/v1/namespaces/default/builds/long-1/log");
    if (log.text.includes(marker)) break;
    if (Date.now() > until) throw new Error("the build never reached its RUN step");
    await sleep(200);
  }

  const { stdout } = await exec(
    process.execPath,
    [join(repoRoot, "packages/cli/bin/kiln.mjs"), "cancel-build", "long-1"],
    {
      env: { ...process.env, ...running.cliEnv },
    },
  );
  expect(stdout).toContain("long-1");
  const cancelledAt = Date.now();
  const build = await waitForBuild(
    call,
    "long-1",
    (p) => p === "Cancelled" || p === "Failed" || p === "Complete",
    10_000,
  );
  expect(build.status.phase).toBe("Cancelled");
  expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  // Nothing of the build survives: no `sleep 120` left running anywhere.
  const ps = await exec("ps", ["-eo", "args"]);
  expect(ps.stdout.split("\n").filter((l) => l.includes("sleep 120"))).toEqual([]);
});

test("BUILD_RUNNER_MAX_CONCURRENT_BUILDS=1 runs builds one after the other", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({ Dockerfile: `FROM ${baseImage.ref}\nRUN sleep 2\n` });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "1" },
  });
  const call = api(running);
  // Parallel, so that only the runner's own limit keeps the two builds apart.
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        ...buildConfig("queue", repo.url),
        spec: { ...buildConfig("queue", repo.url).spec, runPolicy: "Parallel" },
      },
    ],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/queue/instantiate", {});
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/queue/instantiate", {});
  const done = (p: string) => p === "Complete" || p === "Failed" || p === "Error";
  const first = await waitForBuild(call, "queue-1", done);
  const second = await waitForBuild(call, "queue-2", done);
  expect([first.status.phase, second.status.phase]).toEqual(["Complete", "Complete"]);
  const [a, b] = [first, second].sort(
    (x, y) => Date.parse(x.status.startTimestamp) - Date.parse(y.status.startTimestamp),
  );
  expect(Date.parse(b.status.startTimestamp)).toBeGreaterThanOrEqual(
    Date.parse(a.status.completionTimestamp),
  );
});
