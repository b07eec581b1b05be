import { createHmac, randomUUID } from "node:crypto";
import { Bus } from "@kiln/bus";
import { createApiServer } from "@kiln/api";
import { applyResources, createDatabase, type Database } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { WebhookReceiver } from "@kiln/webhooks";
import { expect } from "vitest";

const logger = createLogger({ service: "webhook-test", level: "silent" });
const secret = "gh-secret-0123456789";
const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

type Send = (
  path: string,
  body: string | Buffer,
  headers?: Record<string, string>,
) => Promise<{ status: number; json: any }>;

/**
 * The receiver in-process (fastify inject) on the test's own database and bus prefix, with the
 * api beside it for the deliveries route. No scheduler: a published request stays a message.
 */
const test = baseTest.extend<{
  kiln: {
    send: Send;
    bus: Bus;
    db: Database;
    deliveries: (q?: string) => Promise<any[]>;
    refusals: () => Promise<any[]>;
  };
}>({
  kiln: async ({ infra, database, subjectPrefix }, use) => {
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
      bodyLimitBytes: 64 * 1024,
      secrets: infra.secrets,
    });
    const api = createApiServer({
      db: db.db,
      bus,
      logger,
      token: "t".repeat(20),
      registry: infra.registry.address,
      secrets: infra.secrets,
    });
    await receiver.server.ready();
    await api.ready();
    await applyResources(
      db.db,
      parseResources([
        bc("app", { ref: "main", triggers: [{ type: "GitHub", github: { secret } }] }),
        bc("tags", {
          ref: "main",
          triggers: [{ type: "GitHub", github: { secret, includeTags: true } }],
        }),
        bc("gl", { ref: "master", triggers: [{ type: "GitLab", gitlab: { secret } }] }),
        bc("gen", {
          ref: "main",
          triggers: [
            { type: "Generic", generic: { secret, allowEnv: true } },
            { type: "Generic", generic: { secret: "other-secret-xyz" } },
          ],
        }),
        bc("nosecret", { ref: "main", triggers: [{ type: "GitHub", github: {} }] }),
      ]),
      infra.secrets,
    );
    const send: Send = async (path, body, headers = {}) => {
      const res = await receiver.server.inject({
        method: "POST",
        url: path,
        payload: body,
        headers: { "content-type": "application/json", ...headers },
      });
      return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : null };
    };
    const deliveries = async (q = "") => {
      const res = await api.inject({
        method: "GET",
        url: `/apis/v1/namespaces/default/webhookdeliveries${q}`,
        headers: { authorization: `Bearer ${"t".repeat(20)}` },
      });
      return JSON.parse(res.body).items as any[];
    };
    const refusals = async () => {
      const res = await api.inject({
        method: "GET",
        url: "/apis/v1/webhookrefusals",
        headers: { authorization: `Bearer ${"t".repeat(20)}` },
      });
      return JSON.parse(res.body).items as any[];
    };
    await use({ send, bus, db, deliveries, refusals });
    await receiver.stop();
    await api.close();
    await bus.drain();
    await db.close();
  },
});

function bc(name: string, opts: { ref: string; triggers: unknown[] }) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace: "default" },
    spec: {
      source: { git: { uri: "https://git.example.test/app.git", ref: opts.ref } },
      strategy: { type: "Docker" },
      triggers: opts.triggers,
    },
  };
}

function githubPush(ref: string, after = sha, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    ref,
    before: "1".repeat(40),
    after,
    deleted: /^0+$/.test(after),
    head_commit: /^0+$/.test(after) ? null : { id: after, message: "change" },
    repository: { default_branch: "main" },
    ...extra,
  });
}
const sign = (body: string, key = secret) =>
  `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
const gh = (body: string, event = "push", delivery: string = randomUUID(), key = secret) => ({
  "x-github-event": event,
  "x-github-delivery": delivery,
  "x-hub-signature-256": sign(body, key),
});

test("a signed GitHub push to the BuildConfig's branch publishes build.requested for exactly that commit, once per delivery id", async ({
  kiln,
}) => {
  const body = githubPush("refs/heads/main");
  const delivery = randomUUID();
  const first = await kiln.send("/hooks/default/app/github", body, gh(body, "push", delivery));
  expect(first.status).toBe(202);
  expect(first.json).toMatchObject({
    outcome: "build-requested",
    requestId: `git-github-${delivery}`,
    commit: sha,
  });
  const request = await kiln.bus.lastEvent("build.requested", `git-github-${delivery}`);
  expect(request).toMatchObject({
    buildConfig: "app",
    commit: sha,
    cause: { type: "GitPush", deliveryId: delivery, commit: sha },
  });

  // GitHub's "Redeliver" sends the same delivery id: the first answer again, nothing new stored or published.
  const again = await kiln.send("/hooks/default/app/github", body, gh(body, "push", delivery));
  expect(again.status).toBe(200);
  expect(again.json).toMatchObject({
    delivery: first.json.delivery,
    outcome: "build-requested",
    redelivery: true,
  });
  expect(await kiln.bus.count("build.requested", `git-github-${delivery}`)).toBe(1);
  expect(await kiln.deliveries("?buildConfig=app")).toHaveLength(1);
});

test("a wrong signature, a missing one, an unknown BuildConfig and a trigger without secret all get the same 401; those for an existing BuildConfig are stored as rejected, the others counted", async ({
  kiln,
}) => {
  const body = githubPush("refs/heads/main");
  const answers = [
    await kiln.send("/hooks/default/app/github", body, gh(body, "push", randomUUID(), "wrong")),
    await kiln.send("/hooks/default/app/github", body, {
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
    }),
    await kiln.send("/hooks/default/nope/github", body, gh(body)),
    await kiln.send("/hooks/other-ns/app/github", body, gh(body)),
    await kiln.send("/hooks/default/app/gitlab", body, {
      "x-gitlab-event": "Push Hook",
      "x-gitlab-token": secret,
    }),
    await kiln.send("/hooks/default/nosecret/github", body, gh(body)),
    await kiln.send(
      "/apis/build.openshift.io/v1/namespaces/default/buildconfigs/app/webhooks/wrong/github",
      body,
      gh(body),
    ),
    await kiln.send(
      "/apis/build.openshift.io/v1/namespaces/default/buildconfigs/nope/webhooks/x/github",
      body,
      gh(body),
    ),
  ];
  for (const a of answers) {
    expect(a.status).toBe(401);
    expect(a.json).toEqual(answers[0]!.json);
  }
  expect(answers[0]!.json.error).toBe("Unauthorized");
  const stored = await kiln.deliveries();
  expect(
    stored.filter((d) => d.outcome === "rejected" && d.reason === "Unauthorized"),
  ).toHaveLength(5); // all but the unknown BuildConfigs (nope twice, and app in other-ns)
  expect(stored.every((d) => d.requestId === null && d.commit === null)).toBe(true);
  expect(await kiln.refusals()).toMatchObject([
    { reason: "UnknownBuildConfig", provider: "github", count: 3 },
  ]);
});

test("an unsigned request cannot claim the delivery id of the real delivery", async ({ kiln }) => {
  const body = githubPush("refs/heads/main");
  const delivery = randomUUID();
  expect(
    (
      await kiln.send("/hooks/default/app/github", body, {
        ...gh(body, "push", delivery, "forged"),
      })
    ).status,
  ).toBe(401);
  const real = await kiln.send("/hooks/default/app/github", body, gh(body, "push", delivery));
  expect(real.status).toBe(202);
  expect(real.json.outcome).toBe("build-requested");
});

test("OpenShift's URL shape takes the secret from the path", async ({ kiln }) => {
  const body = githubPush("refs/heads/main");
  const res = await kiln.send(
    `/apis/build.openshift.io/v1/namespaces/default/buildconfigs/app/webhooks/${secret}/github`,
    body,
    {
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
    },
  );
  expect(res.status).toBe(202);
  expect(res.json.outcome).toBe("build-requested");
});

test("pushes to other branches, deletions, pings, other events and tags without includeTags are stored as skipped with the reason", async ({
  kiln,
}) => {
  const cases: [string, string, string][] = [
    [githubPush("refs/heads/dev"), "push", "RefMismatch"],
    [githubPush("refs/heads/main", "0".repeat(40)), "push", "BranchDeleted"],
    [JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 }), "ping", "Ping"],
    [JSON.stringify({ action: "opened" }), "pull_request", "IgnoredEvent"],
    [githubPush("refs/tags/v1"), "push", "TagPush"],
  ];
  for (const [body, event, reason] of cases) {
    const res = await kiln.send("/hooks/default/app/github", body, gh(body, event));
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ outcome: "skipped", reason });
    expect(res.json.requestId).toBeUndefined();
  }
  const tag = githubPush("refs/tags/v1");
  expect((await kiln.send("/hooks/default/tags/github", tag, gh(tag))).json).toMatchObject({
    outcome: "build-requested",
    commit: sha,
  });
  const stored = await kiln.deliveries("?buildConfig=app");
  expect(stored.map((d) => d.reason)).toEqual([
    "TagPush",
    "IgnoredEvent",
    "Ping",
    "BranchDeleted",
    "RefMismatch",
  ]);
});

test("bad input gets a clear 4xx and starts nothing: oversized, wrong content type, malformed JSON, missing headers, unknown type", async ({
  kiln,
}) => {
  const big = githubPush("refs/heads/main", sha, { padding: "x".repeat(70 * 1024) });
  const tooLarge = await kiln.send("/hooks/default/app/github", big, gh(big));
  expect(tooLarge).toMatchObject({ status: 413, json: { error: "PayloadTooLarge" } });

  const body = githubPush("refs/heads/main");
  const text = await kiln.send("/hooks/default/app/github", body, {
    ...gh(body),
    "content-type": "text/plain",
  });
  expect(text).toMatchObject({ status: 415, json: { error: "UnsupportedMediaType" } });

  const broken = "{not json";
  const malformed = await kiln.send("/hooks/default/app/github", broken, gh(broken));
  expect(malformed).toMatchObject({
    status: 400,
    json: { error: "MalformedPayload", message: "the body is not valid JSON" },
  });

  const { "x-github-delivery": _, ...noDelivery } = gh(body);
  expect(await kiln.send("/hooks/default/app/github", body, noDelivery)).toMatchObject({
    status: 400,
    json: { error: "MissingHeader" },
  });

  expect((await kiln.send("/hooks/default/app/svn", body, gh(body))).status).toBe(400);
  const stored = await kiln.deliveries();
  expect(stored.map((d) => d.outcome)).toEqual(["rejected", "rejected"]);
  expect(stored.map((d) => d.reason)).toEqual(["MissingHeader", "MalformedPayload"]);
});

test("GitLab's token header and the generic hook's env (only with allowEnv) work", async ({
  kiln,
}) => {
  const gl = JSON.stringify({
    object_kind: "push",
    ref: "refs/heads/master",
    after: sha,
    checkout_sha: sha,
    project: { default_branch: "master" },
  });
  const glDelivery = randomUUID();
  const res = await kiln.send("/hooks/default/gl/gitlab", gl, {
    "x-gitlab-event": "Push Hook",
    "x-gitlab-token": secret,
    "x-gitlab-event-uuid": glDelivery,
  });
  expect(res).toMatchObject({
    status: 202,
    json: { outcome: "build-requested", requestId: `git-gitlab-${glDelivery}` },
  });

  const generic = JSON.stringify({
    git: { ref: "main", commit: sha },
    env: [{ name: "FOO", value: "bar" }],
  });
  const withEnv = await kiln.send("/hooks/default/gen/generic", generic, {
    authorization: `Bearer ${secret}`,
    "x-request-id": "gen-1",
  });
  expect(withEnv.status).toBe(202);
  expect((await kiln.bus.lastEvent("build.requested", "git-generic-gen-1"))?.env).toEqual([
    { name: "FOO", value: "bar" },
  ]);
  // The second generic trigger has its own secret and no allowEnv: the env is dropped.
  const noEnv = await kiln.send("/hooks/default/gen/generic", generic, {
    authorization: "Bearer other-secret-xyz",
    "x-request-id": "gen-2",
  });
  expect(noEnv.status).toBe(202);
  expect((await kiln.bus.lastEvent("build.requested", "git-generic-gen-2"))?.env).toEqual([]);
});

test("a burst of deliveries, stored together, still answers each sender with its own outcome and dedupes a delivery id sent many times at once", async ({
  kiln,
}) => {
  const repeated = randomUUID();
  const repeatedBody = githubPush("refs/heads/main");
  const distinct = Array.from({ length: 30 }, (_, i) => {
    const body = githubPush(
      i % 2 === 0 ? "refs/heads/main" : "refs/heads/other",
      createHmac("sha1", "burst").update(String(i)).digest("hex"),
    );
    return { body, headers: gh(body) };
  });
  const unsigned = githubPush("refs/heads/main");
  const answers = await Promise.all([
    ...Array.from({ length: 10 }, () =>
      kiln.send("/hooks/default/app/github", repeatedBody, gh(repeatedBody, "push", repeated)),
    ),
    ...distinct.map((d) => kiln.send("/hooks/default/app/github", d.body, d.headers)),
    kiln.send(
      "/hooks/default/app/github",
      unsigned,
      gh(unsigned, "push", repeated, "wrong-secret-000"),
    ),
  ]);
  const forRepeated = answers.slice(0, 10);
  expect(forRepeated.filter((a) => a.status === 202)).toHaveLength(1);
  expect(forRepeated.filter((a) => a.status === 200 && a.json.redelivery === true)).toHaveLength(9);
  expect(new Set(forRepeated.map((a) => a.json.delivery)).size).toBe(1);
  const forDistinct = answers.slice(10, 40);
  expect(forDistinct.map((a) => a.status)).toEqual(distinct.map(() => 202));
  expect(forDistinct.map((a) => a.json.outcome)).toEqual(
    distinct.map((_, i) => (i % 2 === 0 ? "build-requested" : "skipped")),
  );
  // A forged copy of a real delivery id is refused and stored as rejected, and claims nothing.
  expect(answers[40]!.status).toBe(401);
  const stored = await kiln.deliveries("?buildConfig=app&limit=1000");
  expect(
    stored
      .filter((d) => d.deliveryId === repeated)
      .map((d) => d.outcome)
      .sort(),
  ).toEqual(["build-requested", "rejected"]);
  expect(stored).toHaveLength(1 + 30 + 1);
  const requested = [
    forRepeated.find((a) => a.status === 202)!,
    ...forDistinct.filter((a) => a.json.outcome === "build-requested"),
  ];
  expect(requested).toHaveLength(1 + 15);
  for (const answer of requested)
    expect(await kiln.bus.count("build.requested", answer.json.requestId)).toBe(1);
});
