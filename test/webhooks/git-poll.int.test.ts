import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gitEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "Dev",
  GIT_AUTHOR_EMAIL: "dev@kiln.invalid",
  GIT_COMMITTER_NAME: "Dev",
  GIT_COMMITTER_EMAIL: "dev@kiln.invalid",
};

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

test("a push no webhook announced is built once, found by polling the ref with git ls-remote", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({ Dockerfile: `FROM ${baseImage.ref}\nCMD ["true"]\n` });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "webhook-receiver"],
    extraEnv: { WEBHOOK_GIT_POLL_INTERVAL_MS: "1000" },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "polled" },
        spec: {
          source: { git: { uri: repo.url, ref: "main", poll: true } },
          strategy: { type: "Docker" },
        },
      },
    ],
  });
  // The first reads only note where main is: starting to watch builds nothing.
  await sleep(2500);
  expect((await call("GET", "/apis/v1/namespaces/default/builds")).json.items).toEqual([]);

  // A push the git host never told Kiln about.
  await writeFile(join(repo.dir, "NEWS"), "a change\n");
  await exec("git", ["add", "NEWS"], { cwd: repo.dir, env: gitEnv });
  await exec("git", ["commit", "-q", "-m", "unannounced"], { cwd: repo.dir, env: gitEnv });
  const commit = (await exec("git", ["rev-parse", "HEAD"], { cwd: repo.dir })).stdout.trim();

  const build = await waitForBuild(
    call,
    "polled-1",
    (p) => ["Complete", "Failed", "Error"].includes(p),
    60_000,
  );
  expect(build.status.phase).toBe("Complete");
  expect(build.spec.revision.commit).toBe(commit);
  expect(build.spec.triggeredBy[0].message).toContain("no webhook announced it");
  await sleep(3000);
  expect((await call("GET", "/apis/v1/namespaces/default/builds")).json.items).toHaveLength(1);
});
