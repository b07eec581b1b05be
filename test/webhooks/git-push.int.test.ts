import { execFile } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import {
  api,
  repoRoot,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

const exec = promisify(execFile);
const kilnBin = join(repoRoot, "packages", "cli", "bin", "kiln.mjs");
const secret = "push-secret-0123456789";
const gitEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "Dev",
  GIT_AUTHOR_EMAIL: "dev@kiln.invalid",
  GIT_COMMITTER_NAME: "Dev",
  GIT_COMMITTER_EMAIL: "dev@kiln.invalid",
};
const git = async (cwd: string, ...args: string[]) =>
  (await exec("git", args, { cwd, env: gitEnv })).stdout.trim();

/**
 * A post-receive hook that does what GitHub does on a push: for each updated ref, a GitHub
 * `push` payload signed with the trigger's secret (X-Hub-Signature-256), with a fresh
 * X-GitHub-Delivery. It appends each delivery (headers + body) to deliveries.jsonl so the test can
 * redeliver one exactly.
 */
function postReceiveHook(url: string, log: string): string {
  return `#!${process.execPath}
const { createHmac, randomUUID } = require("node:crypto");
const { appendFileSync, readFileSync } = require("node:fs");
const lines = readFileSync(0, "utf8").trim().split("\\n").filter(Boolean);
(async () => {
  for (const line of lines) {
    const [before, after, ref] = line.split(" ");
    const deleted = /^0+$/.test(after);
    const body = JSON.stringify({
      ref, before, after, deleted, created: /^0+$/.test(before),
      head_commit: deleted ? null : { id: after, message: "pushed" },
      repository: { default_branch: "main", clone_url: ${JSON.stringify("")} },
    });
    const headers = {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": "sha256=" + createHmac("sha256", ${JSON.stringify(secret)}).update(body).digest("hex"),
    };
    const res = await fetch(${JSON.stringify(url)}, { method: "POST", headers, body });
    const answer = await res.text();
    appendFileSync(${JSON.stringify(log)}, JSON.stringify({ headers, body, status: res.status, answer }) + "\\n");
    console.log("kiln webhook: " + res.status + " " + answer);
  }
})();
`;
}

let running: RunningKiln | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await running?.stop();
  running = undefined;
  for (const dir of cleanup.splice(0)) await rm(dir, { recursive: true, force: true });
});

test("git push → signed GitHub webhook → a build of exactly that commit; redelivery, forgeries, deletions, pings and other branches build nothing and all show in kiln events", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "webhook-receiver"],
  });
  const call = api(running);
  const hookUrl = `${running.webhookUrl}/hooks/default/hello/github`;

  // The developer's clone and the "hosted" bare repository with its hook.
  await using work = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo pushed-build > /out.txt\n`,
  });
  const bare = await mkdtemp(join(tmpdir(), "kiln-bare-"));
  cleanup.push(bare);
  await chmod(bare, 0o755); // the runner (the build user) clones it
  await git(bare, "init", "--quiet", "--bare", "--initial-branch=main");
  const log = join(bare, "deliveries.jsonl");
  await writeFile(join(bare, "hooks", "post-receive"), postReceiveHook(hookUrl, log));
  await chmod(join(bare, "hooks", "post-receive"), 0o755);
  await git(work.dir, "remote", "add", "origin", bare);

  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "hello" },
        spec: {
          source: { git: { uri: pathToFileURL(bare).href, ref: "main" } },
          strategy: { type: "Docker", dockerStrategy: {} },
          output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
          triggers: [{ type: "GitHub", github: { secret } }],
        },
      },
    ],
  });
  expect(applied.status).toBe(200);

  // A second commit, so "exactly that commit" differs from the first one.
  await writeFile(join(work.dir, "README"), "second\n");
  await git(work.dir, "add", "README");
  await git(work.dir, "commit", "--quiet", "-m", "second");
  const pushed = await git(work.dir, "rev-parse", "HEAD");
  const push = await exec("git", ["push", "--quiet", "origin", "main"], {
    cwd: work.dir,
    env: gitEnv,
  });
  expect(push.stderr).toContain("kiln webhook: 202");

  const build = await waitForBuild(call, "hello-1", (p) =>
    ["Complete", "Failed", "Error", "Cancelled"].includes(p),
  );
  expect(build.status.phase).toBe("Complete");
  expect(build.spec.revision.commit).toBe(pushed);
  const [first] = (await readFile(log, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(build.spec.triggeredBy[0]).toMatchObject({
    type: "GitPush",
    deliveryId: first.headers["x-github-delivery"],
    commit: pushed,
  });

  // The same delivery again (GitHub's "Redeliver"): the first outcome, still one build.
  const again = await fetch(hookUrl, { method: "POST", headers: first.headers, body: first.body });
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ outcome: "build-requested", redelivery: true });

  // A forged signature and an unknown BuildConfig: the same 401.
  const forged = await fetch(hookUrl, {
    method: "POST",
    headers: {
      ...first.headers,
      "x-hub-signature-256": `sha256=${createHmac("sha256", "guess").update(first.body).digest("hex")}`,
      "x-github-delivery": randomUUID(),
    },
    body: first.body,
  });
  const unknown = await fetch(`${running.webhookUrl}/hooks/default/nope/github`, {
    method: "POST",
    headers: { ...first.headers, "x-github-delivery": randomUUID() },
    body: first.body,
  });
  expect(forged.status).toBe(401);
  expect(unknown.status).toBe(401);
  expect(await unknown.json()).toEqual(await forged.json());

  // A push to another branch, then its deletion; and GitHub's ping.
  await exec("git", ["push", "--quiet", "origin", "main:feature"], { cwd: work.dir, env: gitEnv });
  await exec("git", ["push", "--quiet", "origin", ":feature"], { cwd: work.dir, env: gitEnv });
  const pingBody = JSON.stringify({ zen: "Approachable is better than simple.", hook_id: 7 });
  const ping = await fetch(hookUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "ping",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(pingBody).digest("hex")}`,
    },
    body: pingBody,
  });
  expect(await ping.json()).toMatchObject({ outcome: "skipped", reason: "Ping" });

  // Still exactly one build, and every delivery is on record.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(
    (await call("GET", "/apis/v1/namespaces/default/builds")).json.items.map(
      (b: any) => b.metadata.name,
    ),
  ).toEqual(["hello-1"]);
  const events = await exec(process.execPath, [kilnBin, "events", "--bc", "hello"], {
    env: { ...process.env, ...running.cliEnv },
    cwd: "/",
  });
  const rows = events.stdout.trim().split("\n");
  expect(rows[0]).toMatch(
    /^RECEIVED\s+BUILDCONFIG\s+PROVIDER\s+DELIVERY\s+OUTCOME\s+REF\s+COMMIT\s+RESULT$/,
  );
  const body = rows.slice(1).join("\n");
  expect(body).toContain("Ping");
  expect(body).toMatch(/feature .*BranchDeleted/);
  expect(body).toMatch(/feature .*RefMismatch/);
  expect(body).toContain(`${pushed.slice(0, 7)}   build hello-1`);
  expect(body).toContain("Unauthorized");
  expect(rows).toHaveLength(1 + 5); // push, forged, ping, other branch, deletion (the redelivery adds none)

  const urls = await exec(process.execPath, [kilnBin, "webhooks", "hello"], {
    env: { ...process.env, ...running.cliEnv, KILN_WEBHOOK_URL: running.webhookUrl },
    cwd: "/",
  });
  expect(urls.stdout).toContain(`URL:            ${running.webhookUrl}/hooks/default/hello/github`);
  // The secret is never given back, there as everywhere (`oc describe bc` shows `<secret>` too).
  expect(urls.stdout).toContain(
    `${running.webhookUrl}/apis/build.openshift.io/v1/namespaces/default/buildconfigs/hello/webhooks/<secret>/github`,
  );
  expect(urls.stdout).not.toContain(secret);
  const yaml = await exec(process.execPath, [kilnBin, "get", "bc", "hello", "-o", "yaml"], {
    env: { ...process.env, ...running.cliEnv },
    cwd: "/",
  });
  expect(yaml.stdout).toContain("secret: (redacted)");
  expect(yaml.stdout).not.toContain(secret);
});
