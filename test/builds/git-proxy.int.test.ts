import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchSource } from "@kiln/engine";
import { buildSpecSchema, type BuildJob, type BuildLogSink } from "@kiln/domain";
import { makeGitRepo } from "@kiln/testing";
import { afterEach, expect, test } from "vitest";
import { serveGitOverHttp, startForwardProxy, type Served } from "../support/git-http.js";
import { freePort } from "@kiln/infra";

// spec.source.git.httpProxy/httpsProxy/noProxy, as the runner's source fetch uses them: real git
// cloning over smart HTTP from git's own http-backend, through a real forward proxy that records
// what it carries.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function jobCloning(git: Record<string, string>): BuildJob {
  const spec = buildSpecSchema().parse({
    buildConfig: "app",
    number: 1,
    source: { git },
    strategy: { type: "Docker", dockerStrategy: {} },
    output: { image: null, imageLabels: [] },
    revision: {},
    env: [],
    triggeredBy: [],
  });
  return { id: "b1", namespace: "default", name: "app-1", spec };
}

async function clone(git: Record<string, string>) {
  const workDir = await mkdtemp(join(tmpdir(), "kiln-proxy-"));
  cleanup.push(() => rm(workDir, { recursive: true, force: true }));
  const log: string[] = [];
  const sink: BuildLogSink = { line: (l) => log.push(l), step: () => {}, sourceFetched: () => {} };
  try {
    const revision = await fetchSource(
      jobCloning(git),
      workDir,
      sink,
      new AbortController().signal,
    );
    return { revision, log: log.join("\n"), error: undefined };
  } catch (error) {
    return { revision: null, log: log.join("\n"), error: error as Error & { reason?: string } };
  }
}

async function served<T extends Served>(s: Promise<T>): Promise<T> {
  const started = await s;
  cleanup.push(() => started.close());
  return started;
}

test("a clone goes through the BuildConfig's httpProxy; noProxy lets it bypass; a proxy that refuses fails the fetch naming the proxy", async () => {
  const repo = await makeGitRepo({ "hello.txt": "hi\n" });
  cleanup.push(() => repo.remove());
  const git = await served(serveGitOverHttp(repo.dir));
  const proxy = await served(startForwardProxy());

  const proxied = await clone({ uri: git.repoUrl, httpProxy: proxy.url });
  expect(proxied.error, proxied.log).toBeUndefined();
  expect(proxied.revision?.commit).toBe(repo.commit);
  // git's smart HTTP: the refs, then the pack, both carried by the proxy.
  expect(proxy.requests).toContain(`GET ${git.repoUrl}/info/refs?service=git-upload-pack`);
  expect(proxy.requests).toContain(`POST ${git.repoUrl}/git-upload-pack`);

  const before = proxy.requests.length;
  const bypassed = await clone({
    uri: git.repoUrl,
    httpProxy: proxy.url,
    noProxy: "example.test, 127.0.0.1",
  });
  expect(bypassed.error, bypassed.log).toBeUndefined();
  expect(proxy.requests.length).toBe(before);

  // Nothing listens there: the clone cannot reach the repository another way.
  const closedPort = await freePort();
  const refused = await clone({ uri: git.repoUrl, httpProxy: `http://127.0.0.1:${closedPort}` });
  expect(refused.error?.reason).toBe("FetchSourceFailed");
  expect(refused.log).toMatch(new RegExp(`127\\.0\\.0\\.1 port ${closedPort}`));
});
