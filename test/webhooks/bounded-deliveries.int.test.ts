import { createHmac, randomUUID } from "node:crypto";
import { createApiServer } from "@kiln/api";
import { Bus } from "@kiln/bus";
import { applyResources, createDatabase, type Database } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { createLogger } from "@kiln/runtime";
import { integrationTest as baseTest } from "@kiln/testing";
import { WebhookReceiver } from "@kiln/webhooks";
import { expect } from "vitest";
import { kiln as kilnCli } from "../support/cli.js";

const logger = createLogger({ service: "webhook-test", level: "silent" });
const secret = "gh-secret-0123456789";
const token = "t".repeat(20);

type Answer = { status: number; json: any };

/**
 * The receiver in-process on the test's own database, and the api listening beside it so the
 * real `kiln` CLI can read what was stored. One BuildConfig, `default/app`, with a GitHub trigger.
 */
const test = baseTest.extend<{
  hooks: {
    send: (path: string, body: string, headers?: Record<string, string>) => Promise<Answer>;
    db: Database;
    apiUrl: string;
    /** Rows in webhook_deliveries, whatever their namespace. */
    rows: () => Promise<number>;
    /** The refusal counters, as `GET /apis/v1/webhookrefusals` returns them. */
    refusals: () => Promise<{ hour: string; reason: string; provider: string; count: number }[]>;
  };
}>({
  hooks: async ({ infra, database, subjectPrefix }, use) => {
    const db = createDatabase(database.url);
    const bus = await Bus.connect({
      servers: infra.natsUrl,
      identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
      prefix: subjectPrefix,
      name: "webhook-test",
      logger,
    });
    await bus.ensureStreams();
    const receiver = new WebhookReceiver({ db: db.db, bus, logger, host: "127.0.0.1", port: 0 });
    const api = createApiServer({
      db: db.db,
      bus,
      logger,
      token,
      registry: infra.registry.address,
    });
    await receiver.server.ready();
    const apiUrl = await api.listen({ host: "127.0.0.1", port: 0 });
    await applyResources(
      db.db,
      parseResources([
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "app", namespace: "default" },
          spec: {
            source: { git: { uri: "https://git.example.test/app.git", ref: "main" } },
            strategy: { type: "Docker" },
            triggers: [{ type: "GitHub", github: { secret } }],
          },
        },
      ]),
    );
    const send = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const res = await receiver.server.inject({
        method: "POST",
        url: path,
        payload: body,
        headers: { "content-type": "application/json", ...headers },
      });
      return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : null };
    };
    const rows = async () =>
      (await db.pool.query<{ n: number }>("select count(*)::int as n from webhook_deliveries"))
        .rows[0]!.n;
    const refusals = async () => {
      const res = await fetch(`${apiUrl}/apis/v1/webhookrefusals?limit=1000`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { items: any[] }).items;
    };
    await use({ send, db, apiUrl, rows, refusals });
    await receiver.stop();
    await api.close();
    await bus.drain();
    await db.close();
  },
});

const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const push = JSON.stringify({
  ref: "refs/heads/main",
  before: "1".repeat(40),
  after: sha,
  head_commit: { id: sha, message: "change" },
  repository: { default_branch: "main" },
});
const signed = (body: string, key = secret) => ({
  "x-github-event": "push",
  "x-github-delivery": randomUUID(),
  "x-hub-signature-256": `sha256=${createHmac("sha256", key).update(body).digest("hex")}`,
});
const unsigned = () => ({ "x-github-event": "push", "x-github-delivery": randomUUID() });

/** `count` of (reason, provider), summed over the hours (a run may straddle one's end). */
const counted = (items: { reason: string; provider: string; count: number }[], provider: string) =>
  items
    .filter((c) => c.reason === "UnknownBuildConfig" && c.provider === provider)
    .reduce((sum, c) => sum + c.count, 0);

test("3,000 unsigned requests to made-up namespaces and BuildConfigs get the usual 401, store no row and are counted per provider", async ({
  hooks,
}) => {
  const before = await hooks.rows();
  const paths = Array.from({ length: 3000 }, (_, i) =>
    i % 3 === 2
      ? `/hooks/default/made-up-${i}/gitlab`
      : i % 3 === 1
        ? `/apis/build.openshift.io/v1/namespaces/ns-${i}/buildconfigs/app/webhooks/guess-${i}/github`
        : `/hooks/ns-${i}/bc-${i}/github`,
  );
  const answers: Answer[] = [];
  // In waves, as a flood arrives: many at once, each still answered on its own.
  for (let i = 0; i < paths.length; i += 250)
    answers.push(
      ...(await Promise.all(paths.slice(i, i + 250).map((p) => hooks.send(p, push, unsigned())))),
    );
  const reference = await hooks.send("/hooks/default/app/github", push, unsigned());
  expect(reference.status).toBe(401);
  for (const a of answers) expect(a).toEqual(reference);

  // Only the reference request, to a BuildConfig that exists, left a row.
  expect(await hooks.rows()).toBe(before + 1);
  const refusals = await hooks.refusals();
  expect(counted(refusals, "github")).toBe(2000);
  expect(counted(refusals, "gitlab")).toBe(1000);
});

test("a 401 for a BuildConfig that does not exist takes as long as one for a BuildConfig that does", async ({
  hooks,
}) => {
  const time = async (path: string) => {
    const started = performance.now();
    const answer = await hooks.send(path, push, unsigned());
    expect(answer.status).toBe(401);
    return performance.now() - started;
  };
  for (let i = 0; i < 20; i++) await time("/hooks/default/app/github"); // warm up both paths
  const known: number[] = [];
  const unknown: number[] = [];
  // Interleaved, so load from elsewhere on the machine falls on both alike.
  for (let i = 0; i < 200; i++) {
    known.push(await time("/hooks/default/app/github"));
    unknown.push(await time("/hooks/default/nope/github"));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // Loose on purpose (a shared machine is noisy): answering without a database write would
  // make the unknown path several times faster, far outside this band.
  const ratio = median(unknown) / median(known);
  expect(ratio).toBeGreaterThan(0.6);
  expect(ratio).toBeLessThan(1.6);
});

test("refused and accepted deliveries to an existing BuildConfig are stored and shown by kiln events", async ({
  hooks,
}) => {
  expect((await hooks.send("/hooks/default/app/github", push, signed(push))).status).toBe(202);
  expect((await hooks.send("/hooks/default/app/github", push, unsigned())).status).toBe(401);
  expect(
    (await hooks.send("/hooks/default/app/github", push, signed(push, "wrong-secret"))).status,
  ).toBe(401);

  const events = await kilnCli(
    { KILN_API_URL: hooks.apiUrl, KILN_TOKEN: token, KILN_NAMESPACE: "default" },
    "events",
    "--bc",
    "app",
  );
  expect(events.code).toBe(0);
  const lines = events.stdout.trim().split("\n").slice(1);
  expect(lines).toHaveLength(3);
  expect(lines.filter((l) => /rejected .*Unauthorized/.test(l))).toHaveLength(2);
  expect(lines.filter((l) => / build-requested .*0d1a26e/.test(l))).toHaveLength(1);
});
