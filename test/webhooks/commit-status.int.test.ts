import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import {
  startStatusServer,
  type HostKind,
  type StatusServer,
} from "../support/git-host-status-servers.js";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

// Build status on the commit (spec.source.git.statusReporting), with the real api, scheduler,
// build-runner (real buildah) and webhook-receiver. No git host can run here: each host is a
// local HTTP server implementing its one commit status endpoint as the host's documentation
// describes it (test/support/git-host-status-servers.ts), so what is checked is the request
// Kiln sends as that host would take it, not the host itself.

const publicUrl = "https://kiln.example.test";
const tokens: Record<HostKind, string> = {
  github: "ghp-status-token-3b8d1f0a",
  gitlab: "glpat-status-token-9c2e7a4b",
  gitea: "gitea-status-token-5f1a6d2c",
  bitbucket: "bb-app-password-7e4c0b9d",
};

let running: RunningKiln | undefined;
const servers: StatusServer[] = [];
afterEach(async () => {
  await running?.stop();
  running = undefined;
  for (const server of servers.splice(0)) await server.close();
});

const opaqueSecret = (name: string, data: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name },
  stringData: data,
});

function buildConfig(name: string, uri: string, reporting: unknown, dockerfilePath = "Dockerfile") {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri, statusReporting: reporting } },
      strategy: { type: "Docker", dockerStrategy: { dockerfilePath } },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

/** Waits until `server` holds `count` statuses (they are sent after the build's phase is published). */
async function statusesOf(server: StatusServer, count: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (server.statuses.length < count) {
    if (Date.now() > deadline) {
      // What the reporter said, to tell a request never sent from one refused.
      const log = await readFile(join(running!.logsDir, "webhook-receiver.log"), "utf8");
      const reporter = log.split("\n").filter((l) => /commit.status|"level":(40|50)/.test(l));
      throw new Error(
        `${server.kind} got ${server.statuses.length} of ${count} statuses: ${JSON.stringify(server.requests.map((r) => [r.status, r.body]))}\n${reporter.slice(-20).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return server.statuses.map((s) => s.state);
}

test("a build's phases go to each host's commit status API: pending then success (or failure) on the built commit with Kiln's context and the build's page; a host failing twice is retried and the build is unchanged; a missing Secret is recorded once and no token is ever logged or shown", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo built > /built\n`,
    "failing.Dockerfile": `FROM ${baseImage.ref}\nRUN echo tests-failed && exit 4\n`,
  });
  const host = {} as Record<HostKind, StatusServer>;
  for (const kind of ["github", "gitlab", "gitea", "bitbucket"] as const) {
    host[kind] = await startStatusServer(kind, {
      tokens: [tokens[kind]],
      repositories: kind === "gitlab" ? ["group/sub/app"] : ["acme/app"],
    });
    servers.push(host[kind]);
  }
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "webhook-receiver"],
    extraEnv: { KILN_PUBLIC_URL: publicUrl },
  });
  const call = api(running);
  const reporting = (kind: HostKind, secret = `${kind}-token`) => ({
    secretRef: { name: secret },
    provider: kind,
    url: host[kind].apiUrl,
    repository: kind === "gitlab" ? "group/sub/app" : "acme/app",
  });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      opaqueSecret("github-token", { token: tokens.github }),
      opaqueSecret("gitlab-token", { token: tokens.gitlab }),
      // Under another key than the default `token`.
      opaqueSecret("gitea-token", { "api-token": tokens.gitea }),
      // Bitbucket with a username beside the token: Basic auth, an app password.
      opaqueSecret("bitbucket-token", { token: tokens.bitbucket, username: "kiln-bot" }),
      buildConfig("gh-app", repo.url, reporting("github")),
      buildConfig("gl-app", repo.url, reporting("gitlab"), "failing.Dockerfile"),
      buildConfig("gt-app", repo.url, {
        ...reporting("gitea"),
        secretRef: { name: "gitea-token", key: "api-token" },
      }),
      buildConfig("bb-app", repo.url, reporting("bitbucket")),
      buildConfig("no-secret", repo.url, reporting("github", "not-there")),
    ],
  });
  expect(applied.status, applied.text).toBe(200);

  // Gitea answers its first two status requests 500 (echoing the token it was sent).
  host.gitea.failNext(2, 500);
  for (const name of ["gh-app", "gl-app", "gt-app", "bb-app", "no-secret"]) {
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      { commit: repo.commit },
    );
    expect([201, 202], started.text).toContain(started.status);
  }
  const done: Record<string, any> = {};
  for (const name of ["gh-app", "gl-app", "gt-app", "bb-app", "no-secret"])
    done[name] = await waitForBuild(call, `${name}-1`, finished, 240_000);

  // GitHub: pending while it waited (New and Pending, said once) and while it ran, then
  // success, on the commit built, linking to its page.
  expect(done["gh-app"].status.phase).toBe("Complete");
  expect(await statusesOf(host.github, 3)).toEqual(["pending", "pending", "success"]);
  for (const s of host.github.statuses)
    expect(s).toMatchObject({
      repository: "acme/app",
      sha: repo.commit,
      context: "kiln/default/gh-app",
      targetUrl: `${publicUrl}/console/ns/default/builds/gh-app-1`,
    });
  expect(host.github.statuses.map((s) => s.description)).toEqual([
    "gh-app-1 is waiting for a runner",
    "gh-app-1 is running",
    "gh-app-1 completed",
  ]);

  // GitLab: a failing build is pending, running, then failed, on the project's full path.
  expect(done["gl-app"].status.phase).toBe("Failed");
  expect(await statusesOf(host.gitlab, 3)).toEqual(["pending", "running", "failed"]);
  expect(host.gitlab.statuses[2]).toMatchObject({
    repository: "group/sub/app",
    sha: repo.commit,
    context: "kiln/default/gl-app",
    targetUrl: `${publicUrl}/console/ns/default/builds/gl-app-1`,
  });
  expect(host.gitlab.statuses[2]!.description).toMatch(/^gl-app-1 failed \(\w+\)$/);

  // Gitea: the two 500s were retried (the nak's backoff), the statuses arrived, the build is
  // as it would be without any host.
  expect(done["gt-app"].status.phase).toBe("Complete");
  await statusesOf(host.gitea, 1);
  await expect.poll(() => host.gitea.statuses.at(-1)?.state, { timeout: 60_000 }).toBe("success");
  expect(host.gitea.requests.slice(0, 2).map((r) => r.status)).toEqual([500, 500]);
  expect(host.gitea.statuses.every((s) => s.sha === repo.commit)).toBe(true);
  expect(
    host.gitea.requests.every((r) => r.headers.authorization === `token ${tokens.gitea}`),
  ).toBe(true);
  const gitea = await call("GET", "/apis/v1/namespaces/default/builds/gt-app-1");
  expect(gitea.json.status.phase).toBe("Complete");
  expect(gitea.json.status.reason).toBeUndefined();
  await expect
    .poll(
      async () =>
        (await call("GET", "/apis/v1/namespaces/default/builds/gt-app-1")).json.status.commitStatus,
      { timeout: 30_000 },
    )
    .toMatchObject({ provider: "gitea", state: "success", phase: "Complete", commit: repo.commit });

  // Bitbucket: INPROGRESS (waiting, running) then SUCCESSFUL under one key (overwritten), Basic auth.
  expect(await statusesOf(host.bitbucket, 3)).toEqual(["INPROGRESS", "INPROGRESS", "SUCCESSFUL"]);
  expect(host.bitbucket.statuses[2]).toMatchObject({
    context: "kiln/default/bb-app",
    targetUrl: `${publicUrl}/console/ns/default/builds/bb-app-1`,
  });
  expect(host.bitbucket.requests.map((r) => r.status)).toEqual([201, 200, 200]);
  expect(host.bitbucket.requests[0]!.headers.authorization).toBe(
    `Basic ${Buffer.from(`kiln-bot:${tokens.bitbucket}`).toString("base64")}`,
  );

  // A missing Secret: the build completes all the same, the build says why nothing was
  // reported, and the webhook-receiver says so once for the build (not at each phase).
  expect(done["no-secret"].status.phase).toBe("Complete");
  await expect
    .poll(
      async () =>
        (await call("GET", "/apis/v1/namespaces/default/builds/no-secret-1")).json.status
          .commitStatus,
      { timeout: 30_000 },
    )
    .toMatchObject({ phase: "Complete", problem: { reason: "SecretNotFound" } });
  const receiverLog = await readFile(join(running.logsDir, "webhook-receiver.log"), "utf8");
  const notReported = receiverLog
    .split("\n")
    .filter((l) => l.includes("commit status not reported"));
  expect(notReported).toHaveLength(1);
  expect(notReported[0]).toContain(done["no-secret"].metadata.uid);
  expect(notReported[0]).toContain("SecretNotFound");
  expect(host.github.statuses.some((s) => s.context === "kiln/default/no-secret")).toBe(false);

  // No token in any service's log (the Gitea server echoed its in the 500s' bodies), nor in
  // what the api answers for the builds and the Secrets.
  const logs = await Promise.all(
    ["webhook-receiver", "api", "scheduler", "build-runner"].map((s) =>
      readFile(join(running!.logsDir, `${s}.log`), "utf8"),
    ),
  );
  const answers = [
    (await call("GET", "/apis/v1/namespaces/default/builds")).text,
    (await call("GET", "/apis/v1/namespaces/default/secrets")).text,
    (await call("GET", "/apis/v1/namespaces/default/buildconfigs")).text,
  ];
  expect(receiverLog).toContain("commit status is tried again");
  for (const token of Object.values(tokens))
    for (const text of [...logs, ...answers]) expect(text).not.toContain(token);
});

test("a build is pending on its commit as soon as the scheduler records it, once for New and Pending, and a queued build cancelled by the scheduler is cancelled there: no runner needed", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
  const host = {} as Record<"github" | "gitlab", StatusServer>;
  for (const kind of ["github", "gitlab"] as const) {
    host[kind] = await startStatusServer(kind, {
      tokens: [tokens[kind]],
      repositories: kind === "gitlab" ? ["group/sub/app"] : ["acme/app"],
    });
    servers.push(host[kind]);
  }
  // No build-runner: every build stays queued (Pending) until the scheduler cancels it.
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "webhook-receiver"],
    extraEnv: { KILN_PUBLIC_URL: publicUrl },
  });
  const call = api(running);
  const reporting = (kind: "github" | "gitlab") => ({
    secretRef: { name: `${kind}-token` },
    provider: kind,
    url: host[kind].apiUrl,
    repository: kind === "gitlab" ? "group/sub/app" : "acme/app",
  });
  const uri = "https://git.example.test/acme/app.git";
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      opaqueSecret("github-token", { token: tokens.github }),
      opaqueSecret("gitlab-token", { token: tokens.gitlab }),
      buildConfig("gh-app", uri, reporting("github")),
      buildConfig("gl-app", uri, reporting("gitlab")),
    ],
  });
  expect(applied.status, applied.text).toBe(200);
  for (const name of ["gh-app", "gl-app"]) {
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      { commit },
    );
    expect([201, 202], started.text).toContain(started.status);
    await waitForBuild(call, `${name}-1`, (p) => p === "Pending");
  }

  expect(await statusesOf(host.github, 1)).toEqual(["pending"]);
  expect(host.github.statuses[0]).toMatchObject({
    repository: "acme/app",
    sha: commit,
    context: "kiln/default/gh-app",
    description: "gh-app-1 is waiting for a runner",
    targetUrl: `${publicUrl}/console/ns/default/builds/gh-app-1`,
  });
  expect(await statusesOf(host.gitlab, 1)).toEqual(["pending"]);

  const cancelled = await call("POST", "/apis/v1/namespaces/default/builds/gl-app-1/cancel");
  expect(cancelled.status, cancelled.text).toBe(202);
  expect((await waitForBuild(call, "gl-app-1", finished)).status.phase).toBe("Cancelled");
  expect(await statusesOf(host.gitlab, 2)).toEqual(["pending", "canceled"]);
  expect(host.gitlab.statuses[1]!.description).toBe("gl-app-1 was cancelled");

  // New and Pending were both reported on, once: nothing more comes for the queued build.
  await new Promise((r) => setTimeout(r, 2000));
  expect(host.github.requests).toHaveLength(1);
  expect(host.gitlab.requests).toHaveLength(2);
  await expect
    .poll(
      async () =>
        (await call("GET", "/apis/v1/namespaces/default/builds/gh-app-1")).json.status.commitStatus,
    )
    .toMatchObject({
      provider: "github",
      state: "pending",
      // Whichever of the two the reporter took first: the other was no news.
      phase: expect.stringMatching(/^(New|Pending)$/),
      attempt: 0,
      commit,
    });
});
