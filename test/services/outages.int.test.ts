/**
 * Every service rides out a PostgreSQL restart and a NATS restart (issue 12): the six run as
 * processes (as `kiln up` runs them) against a PostgreSQL, a NATS and a registry of this file's
 * own, so that it can stop and start them again on the same state dir and port. During each
 * outage `/healthz` stays 200 and `/readyz` is 503 naming the dependency, a webhook delivery and
 * an api request are answered 503 with a Retry-After; afterwards every service is the same
 * process, ready again within seconds, and does its job: a build requested through the api
 * completes, a signed webhook starts one (and the delivery refused during the NATS outage does
 * when redelivered), a registry notification moves a tag, and the deployer posts the tags that
 * moved. The build-runner uses the noop engine (no buildah): what is under test is Kiln's own
 * machinery, not a build.
 */
import { createHash, createHmac, randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busNatsUsers, createBusCredentials, createSealingKeyPair } from "@kiln/bus";
import { createDatabase, runMigrations, SecretBox } from "@kiln/db";
import pg from "pg";
import {
  freePort,
  startNats,
  startPostgres,
  startRegistry,
  kilnServiceNames,
  type KilnServiceName,
  type NatsServer,
  type PostgresServer,
  type RegistryServer,
} from "@kiln/infra";
import { registryNotificationToken } from "@kiln/testing/plain";
import { afterAll, beforeAll, expect, test } from "vitest";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";

const webhookSecret = "outage-webhook-secret-0123";
const deploySecret = "outage-deploy-secret-0123456";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let workDir: string;
let stateDir: string;
let ports: { nats: number; postgres: number; registry: number };
const busCredentials = createBusCredentials();
let nats: NatsServer;
let postgres: PostgresServer;
let registry: RegistryServer;
let kiln: RunningKiln;
let deployTarget: { url: string; received: { tag: string; digest: string }[]; server: Server };

const startOwnNats = () =>
  startNats({ stateDir, port: ports.nats, users: busNatsUsers(busCredentials, "*") });
const startOwnPostgres = () => startPostgres({ stateDir, port: ports.postgres, fast: true });

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "kiln-outages-"));
  // As root, postgres runs as the postgres user and must pass through.
  await chmod(workDir, 0o711);
  stateDir = join(workDir, "state");
  ports = { nats: await freePort(), postgres: await freePort(), registry: await freePort() };
  nats = await startOwnNats();
  postgres = await startOwnPostgres();
  await runMigrations(postgres.url);
  registry = await startRegistry({ stateDir, port: ports.registry });
  deployTarget = await startDeployTarget();
  kiln = await startKiln({
    infra: {
      natsUrl: nats.url,
      busCredentials,
      sealingKeys: await createSealingKeyPair(),
      secretsKey: SecretBox.generateKey(),
      registry: { address: registry.address, credentials: null },
      workDir,
    },
    databaseUrl: postgres.url,
    subjectPrefix: "outages",
    services: [...kilnServiceNames],
    extraEnv: {
      BUILD_RUNNER_ENGINE: "noop",
      // The git poller's rounds come every second, so that one runs during each outage (an
      // unhandled failure of one took the receiver down once).
      WEBHOOK_GIT_POLL_INTERVAL_MS: "1000",
      DEPLOYER_HTTP_TARGETS: deployTarget.url,
      DEPLOYER_HTTP_SECRET: deploySecret,
    },
  });
}, 240_000);

afterAll(async () => {
  await kiln?.stop();
  if (deployTarget) await new Promise((r) => deployTarget.server.close(r));
  for (const server of [registry, postgres, nats]) await server?.stop().catch(() => undefined);
  if (process.env.KILN_KEEP_TEST_STATE === undefined)
    await rm(workDir, { recursive: true, force: true });
}, 120_000);

/** A receiver for the deployer's HTTP target: what it posted, tag and digest. */
async function startDeployTarget(): Promise<typeof deployTarget> {
  const received: { tag: string; digest: string }[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw) as { imageStreamTag: string; digest: string };
      received.push({ tag: body.imageStreamTag, digest: body.digest });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/deploys`,
    received,
    server,
  };
}

type Health = { status: number; body: { status: string; checks: Record<string, string> } };
async function health(name: KilnServiceName, path: "/healthz" | "/readyz"): Promise<Health> {
  const res = await fetch(`${kiln.healthUrls[name]}${path}`, {
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, body: (await res.json()) as Health["body"] };
}

/** Polls until `check` passes (returning its last value) or `timeoutMs` runs out (throwing what it threw last). */
async function eventually<T>(check: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/** A signed GitHub push of `commit` to main, with `delivery` as its X-GitHub-Delivery. */
function githubPush(commit: string, delivery: string = randomUUID()) {
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: commit,
    head_commit: { id: commit, message: "pushed" },
    repository: { default_branch: "main" },
  });
  const headers = {
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": delivery,
    "x-hub-signature-256": `sha256=${createHmac("sha256", webhookSecret).update(body).digest("hex")}`,
  };
  return () =>
    fetch(`${kiln.webhookUrl}/hooks/default/app/github`, { method: "POST", headers, body });
}

/** Pushes a one-layer image to the registry's `repository:tag` over its HTTP API; its manifest digest. */
async function pushImage(repository: string, tag: string): Promise<string> {
  const blob = async (content: Buffer) => {
    const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
    const start = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, {
      method: "POST",
    });
    const location = new URL(start.headers.get("location")!, registry.url);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, { method: "PUT", body: content });
    expect(put.status, `blob ${digest}`).toBe(201);
    return { digest, size: content.length };
  };
  const layer = await blob(Buffer.from(`layer of ${repository}:${tag} ${randomUUID()}`));
  const config = await blob(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  });
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
  expect(put.status, await put.text()).toBe(201);
  return put.headers.get("docker-content-digest")!;
}

/** What the registry would send the image-watcher for a push of `repository:tag`. */
function notifyPush(repository: string, tag: string) {
  return fetch(`${kiln.imageWatcherUrl}/registry/notifications`, {
    method: "POST",
    headers: {
      "content-type": "application/vnd.docker.distribution.events.v1+json",
      authorization: `Bearer ${registryNotificationToken}`,
    },
    body: JSON.stringify({
      events: [
        {
          id: randomUUID(),
          action: "push",
          target: { mediaType: "application/vnd.oci.image.manifest.v1+json", repository, tag },
          request: { host: registry.address },
        },
      ],
    }),
  });
}

async function tagDigest(call: ReturnType<typeof api>, stream: string, tag: string) {
  const res = await call("GET", `/apis/v1/namespaces/default/imagestreams/${stream}`);
  if (res.status !== 200) return undefined;
  return (res.json.status.tags as { tag: string; items: { image: string }[] }[]).find(
    (t) => t.tag === tag,
  )?.items[0]?.image;
}

/** During an outage of `dependency`: each service alive, the ones that need it unready, naming it. */
async function expectOutageSeen(
  dependency: "postgres" | "nats",
  needing: readonly KilnServiceName[],
): Promise<void> {
  for (const name of kilnServiceNames) {
    const ready = await eventually(async () => {
      const answer = await health(name, "/readyz");
      if (needing.includes(name)) expect(answer.status, `${name} /readyz`).toBe(503);
      return answer;
    }, 5_000);
    if (needing.includes(name)) {
      expect(ready.body.status, name).toBe("unready");
      expect(ready.body.checks[dependency], `${name} names ${dependency}`).not.toBe("ok");
    } else {
      expect(ready, `${name} does not need ${dependency}`).toMatchObject({ status: 200 });
    }
    const live = await health(name, "/healthz");
    expect(live, `${name} /healthz`).toMatchObject({
      status: 200,
      body: { status: "ok", checks: { eventLoop: "ok" } },
    });
  }
}

async function expectAllReady(withinMs: number): Promise<void> {
  await eventually(async () => {
    for (const name of kilnServiceNames)
      expect((await health(name, "/readyz")).status, `${name} /readyz`).toBe(200);
  }, withinMs);
}

test("every service rides out a PostgreSQL restart and a NATS restart, and does its job after", async () => {
  const call = api(kiln);
  const pids = new Map([...kiln.processes].map(([name, p]) => [name, p.pid]));
  // Started is not yet ready: on a loaded machine a first readiness check can take a while.
  await expectAllReady(30_000);
  for (const name of kilnServiceNames) {
    expect(await health(name, "/readyz"), name).toMatchObject({
      status: 200,
      body: { status: "ok" },
    });
  }
  expect((await health("build-runner", "/readyz")).body.checks).toEqual({
    nats: "ok",
    engine: "ok",
  });
  expect((await health("scheduler", "/readyz")).body.checks).toEqual({
    nats: "ok",
    postgres: "ok",
  });

  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "app" }, spec: {} },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: "https://git.example.invalid/app.git", ref: "main" } },
          strategy: { type: "Docker", dockerStrategy: {} },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
          triggers: [{ type: "GitHub", github: { secret: webhookSecret } }],
        },
      },
    ],
  });
  expect(applied.status, applied.text).toBe(200);

  // PostgreSQL down for about five seconds.
  await postgres.stop();
  const pgStopped = Date.now();
  await expectOutageSeen("postgres", [
    "api",
    "webhook-receiver",
    "scheduler",
    "image-watcher",
    "deployer",
  ]);
  const refusedHook = await githubPush("a".repeat(40))();
  expect(refusedHook.status).toBe(503);
  expect(refusedHook.headers.get("retry-after")).toBe("5");
  expect(await refusedHook.json()).toMatchObject({ error: "Unavailable" });
  const refusedRead = await fetch(`${kiln.apiUrl}/apis/v1/namespaces/default/buildconfigs`, {
    headers: { authorization: `Bearer ${kiln.token}` },
  });
  expect(refusedRead.status).toBe(503);
  expect(refusedRead.headers.get("retry-after")).toBe("5");
  const refusedBody = (await refusedRead.json()) as { error: string; message: string };
  expect(refusedBody.error).toBe("ServiceUnavailable");
  expect(refusedBody.message).toMatch(/postgres: unreachable/);
  expect(refusedBody.message).not.toMatch(/\n\s+at /);
  const refusedNotification = await notifyPush("default/pushed", "v1");
  expect(refusedNotification.status).toBe(503);
  expect(refusedNotification.headers.get("retry-after")).toBe("5");
  await sleep(Math.max(0, 5_000 - (Date.now() - pgStopped)));
  postgres = await startOwnPostgres();
  const pgBack = Date.now();
  await expectAllReady(10_000);
  expect(Date.now() - pgBack).toBeLessThan(10_000);

  // NATS down for about five seconds.
  await nats.stop();
  const natsStopped = Date.now();
  await expectOutageSeen("nats", kilnServiceNames);
  const heldDelivery = randomUUID();
  const heldCommit = "b".repeat(40);
  const unqueued = await githubPush(heldCommit, heldDelivery)();
  expect(unqueued.status).toBe(503);
  expect(unqueued.headers.get("retry-after")).toBe("5");
  expect(await unqueued.json()).toMatchObject({ error: "Unavailable" });
  const refusedStart = await fetch(
    `${kiln.apiUrl}/apis/v1/namespaces/default/buildconfigs/app/instantiate`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${kiln.token}`, "content-type": "application/json" },
      body: "{}",
    },
  );
  expect(refusedStart.status).toBe(503);
  expect(refusedStart.headers.get("retry-after")).toBe("5");
  expect(await refusedStart.json()).toMatchObject({
    error: "ServiceUnavailable",
    message: expect.stringMatching(/nats: disconnected/),
  });
  await sleep(Math.max(0, 5_000 - (Date.now() - natsStopped)));
  nats = await startOwnNats();
  const natsBack = Date.now();
  await expectAllReady(10_000);
  expect(Date.now() - natsBack).toBeLessThan(10_000);

  // The same processes, still running.
  for (const [name, proc] of kiln.processes) {
    expect(proc.running, `${name} running`).toBe(true);
    expect(proc.pid, `${name} pid`).toBe(pids.get(name));
  }

  // And each does its job. A build through the api: the scheduler numbers it, the runner runs
  // it, the image-watcher records its output, the deployer posts the tag that moved.
  const started = await call(
    "POST",
    "/apis/v1/namespaces/default/buildconfigs/app/instantiate",
    {},
  );
  expect([201, 202], started.text).toContain(started.status);
  const built = await waitForBuild(call, "app-1", (p) => p === "Complete", 60_000);
  await eventually(async () => {
    expect(await tagDigest(call, "app", "latest")).toBe(built.status.output.digest);
  }, 30_000);
  // The delivery refused while NATS was down, redelivered: stored then, published now.
  const redelivered = await githubPush(heldCommit, heldDelivery)();
  expect(redelivered.status).toBe(200);
  expect(await redelivered.json()).toMatchObject({ outcome: "build-requested", redelivery: true });
  // A new signed push.
  const pushedCommit = "c".repeat(40);
  const hook = await githubPush(pushedCommit)();
  expect(hook.status).toBe(202);
  const byCommit = async (commit: string) => {
    const { json } = await call("GET", "/apis/v1/namespaces/default/builds");
    const build = (json.items as any[]).find((b) => b.spec.revision.commit === commit);
    expect(build?.status.phase, `the build of ${commit.slice(0, 7)}`).toBe("Complete");
  };
  await eventually(() => byCommit(heldCommit), 60_000);
  await eventually(() => byCommit(pushedCommit), 60_000);
  // A registry notification moves a tag.
  const digest = await pushImage("default/pushed", "v1");
  const notified = await notifyPush("default/pushed", "v1");
  expect(notified.status).toBe(200);
  expect(await notified.json()).toMatchObject({ recorded: 1, changed: 1 });
  expect(await tagDigest(call, "pushed", "v1")).toBe(digest);
  await eventually(async () => {
    expect(deployTarget.received).toEqual(
      expect.arrayContaining([
        { tag: "default/pushed:v1", digest },
        { tag: "default/app:latest", digest: built.status.output.digest },
      ]),
    );
  }, 30_000);

  // Nothing went unhandled in any service (each would have stopped, but say why if so).
  for (const name of kilnServiceNames) {
    const log = await readFile(join(kiln.logsDir, `${name}.log`), "utf8");
    expect(log, name).not.toMatch(/"msg":"(unhandled rejection|uncaught exception)"/);
  }
}, 300_000);

test("a transaction whose server connection is ended under it fails, and takes nothing else down", async () => {
  const database = createDatabase(postgres.url, { max: 2 });
  const admin = new pg.Client({ connectionString: postgres.adminUrl });
  await admin.connect();
  try {
    // What a PostgreSQL shutdown does to every session: the server ends it (57P01). Checked
    // out of the pool (a transaction, between two statements), pg emits 'error' on the client
    // with nothing of the pool's listening: unhandled, that ended the process.
    const client = await database.pool.connect();
    let failed: unknown;
    try {
      const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
      await client.query("begin");
      await admin.query("select pg_terminate_backend($1)", [rows[0]!.pid]);
      await sleep(300);
      failed = await client.query("select 1").then(
        () => null,
        (error: unknown) => error,
      );
    } finally {
      client.release(true);
    }
    expect(failed).toBeInstanceOf(Error);
    // The pool connects anew.
    expect((await database.pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
  } finally {
    await admin.end();
    await database.close();
  }
});
