import { execFile } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { createApiServer } from "@kiln/api";
import { applyResources, createDatabase, type Database } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { tsxLoaderUrl } from "@kiln/infra";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { DeliverySweeper, WebhookReceiver } from "@kiln/webhooks";
import { afterEach, expect } from "vitest";
import { kiln as kilnCli } from "../support/cli.js";
import { repoRoot, startKiln, type RunningKiln } from "../support/kiln-services.js";

const exec = promisify(execFile);
const logger = createLogger({ service: "webhook-test", level: "silent" });
const secret = "gh-secret-0123456789";
const token = "t".repeat(20);
const day = 86_400_000;

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
    const bus = await connectTestBus(infra, {
      prefix: subjectPrefix,
      name: "webhook-test",
      logger,
    });
    const receiver = new WebhookReceiver({
      db: db.db,
      bus,
      logger,
      host: "127.0.0.1",
      port: 0,
      secrets: infra.secrets,
    });
    const api = createApiServer({
      db: db.db,
      bus,
      logger,
      token,
      registry: infra.registry.address,
      secrets: infra.secrets,
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
      infra.secrets,
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

test("the sweep deletes deliveries and counters older than the retention, keeps newer ones, and caps a BuildConfig's rejected deliveries", async ({
  hooks,
}) => {
  const accepted = await hooks.send("/hooks/default/app/github", push, signed(push));
  expect(accepted.status).toBe(202);
  for (let i = 0; i < 5; i++)
    expect((await hooks.send("/hooks/default/app/github", push, unsigned())).status).toBe(401);
  expect((await hooks.send("/hooks/nope/nope/github", push, unsigned())).status).toBe(401);
  // One old accepted delivery and an old counter, as if they had arrived eight days ago.
  const old = await hooks.send("/hooks/default/app/github", push, signed(push));
  await hooks.db.pool.query(
    "update webhook_deliveries set received_at = now() - interval '8 days' where id = $1",
    [old.json.delivery],
  );
  await hooks.db.pool.query(
    "insert into webhook_refusal_counts (hour, reason, provider, count) values (date_trunc('hour', now()) - interval '8 days', 'UnknownBuildConfig', 'github', 42)",
  );

  const sweeper = new DeliverySweeper({
    db: hooks.db.db,
    logger,
    retentionMs: 7 * day,
    rejectedPerBuildConfig: 3,
    batchSize: 2, // several batches per step
  });
  expect(await sweeper.sweep()).toEqual({ expired: 1, trimmed: 2, counters: 1 });

  const left = await hooks.db.pool.query<{ id: string; outcome: string }>(
    "select id, outcome from webhook_deliveries order by received_at",
  );
  expect(left.rows.map((r) => r.outcome).sort()).toEqual([
    "build-requested",
    "rejected",
    "rejected",
    "rejected",
  ]);
  expect(left.rows.map((r) => r.id)).toContain(accepted.json.delivery);
  expect(await hooks.refusals()).toMatchObject([
    { reason: "UnknownBuildConfig", provider: "github", count: 1 },
  ]);
  // Nothing more to do: a second sweep deletes nothing.
  expect(await sweeper.sweep()).toEqual({ expired: 0, trimmed: 0, counters: 0 });
});

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

test("the webhook-receiver service deletes deliveries older than WEBHOOK_DELIVERY_RETENTION when it starts", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const db = createDatabase(database.url);
  try {
    await db.pool.query(
      `insert into webhook_deliveries (provider, delivery_id, namespace, build_config, outcome, reason, received_at)
       values ('github', 'old', 'default', 'app', 'rejected', 'Unauthorized', now() - interval '3 hours'),
              ('github', 'new', 'default', 'app', 'rejected', 'Unauthorized', now() - interval '1 hour')`,
    );
    running = await startKiln({
      infra,
      databaseUrl: database.url,
      subjectPrefix,
      services: ["webhook-receiver"],
      extraEnv: { WEBHOOK_DELIVERY_RETENTION: "2h" },
    });
    const deliveryIds = async () =>
      (await db.pool.query<{ delivery_id: string }>("select delivery_id from webhook_deliveries"))
        .rows;
    const deadline = Date.now() + 10_000;
    while ((await deliveryIds()).length > 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await deliveryIds()).toEqual([{ delivery_id: "new" }]);
  } finally {
    await db.close();
  }
});

test("a bad WEBHOOK_DELIVERY_RETENTION stops the webhook-receiver with exit code 2 and a line naming it", async () => {
  const check = async (retention: string) => {
    try {
      await exec(
        process.execPath,
        [
          "--import",
          tsxLoaderUrl(),
          join(repoRoot, "services", "webhook-receiver", "src", "main.ts"),
          "--check-config",
        ],
        {
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            DATABASE_URL: "postgres://kiln@127.0.0.1/kiln",
            KILN_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
            WEBHOOK_DELIVERY_RETENTION: retention,
          },
          cwd: repoRoot,
        },
      );
      return { code: 0, stderr: "" };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
  };
  const [bad, short, good] = await Promise.all([check("7days"), check("10m"), check("24h")]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe(
    'webhook-receiver: invalid configuration:\n  WEBHOOK_DELIVERY_RETENTION: must be a duration such as 7d, 24h, 90m or 1d12h (units d, h, m, s), not "7days"\n',
  );
  expect(short.code).toBe(2);
  expect(short.stderr).toContain("WEBHOOK_DELIVERY_RETENTION: must be at least 1h");
  expect(good.code).toBe(0);
});
