/**
 * Tenants, from the attacker's side: tokens of `kiln create token` with a role per namespace,
 * against the real api and scheduler on a real PostgreSQL and NATS. Each refusal is checked to
 * have changed nothing that a user would see.
 */
import { createHash } from "node:crypto";
import { expect } from "vitest";
import { withAdmin } from "@kiln/testing";
import { buildConfig, eventually, test, type Caller } from "../support/tenant-api.js";

const bcPath = (ns: string, name = "") =>
  `/apis/v1/namespaces/${ns}/buildconfigs${name ? `/${name}` : ""}`;

async function buildsOf(call: Caller, ns: string): Promise<{ name: string; phase: string }[]> {
  const res = await call("GET", `/apis/v1/namespaces/${ns}/builds`);
  return res.json.items.map((b: any) => ({ name: b.metadata.name, phase: b.status.phase }));
}

test("a view token reads everything but cannot apply, start, cancel or delete, and nothing changes", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  expect(
    (await bootstrap("POST", "/apis/v1/apply", { items: [buildConfig("team-b", "app")] })).status,
  ).toBe(200);
  const started = await bootstrap("POST", `${bcPath("team-b", "app")}/instantiate`, {});
  expect(started.status).toBe(201);
  await eventually(
    async () => ((await buildsOf(bootstrap, "team-b"))[0]?.phase === "Pending" ? true : undefined),
    "app-1 dispatched",
  );
  const viewer = kiln.as(await kiln.token("viewer", "team-b=view"));
  const before = (await viewer("GET", bcPath("team-b", "app"))).json;
  expect(before.metadata.name).toBe("app");
  expect((await viewer("GET", "/apis/v1/namespaces/team-b/builds/app-1/log")).status).toBe(200);

  const changed = buildConfig("team-b", "app", { to: "other:latest" });
  const apply = await viewer("POST", "/apis/v1/apply", { items: [changed] });
  expect(apply.status).toBe(403);
  expect(apply.json).toMatchObject({
    error: "Forbidden",
    message: 'token "viewer" may not edit BuildConfigs in namespace team-b (role view)',
  });
  const start = await viewer("POST", `${bcPath("team-b", "app")}/instantiate`, {});
  expect(start.status).toBe(403);
  expect(start.json.message).toBe(
    'token "viewer" may not start Builds in namespace team-b (role view)',
  );
  const upload = await viewer("POST", `${bcPath("team-b", "app")}/instantiatebinary`);
  expect(upload.status).toBe(403);
  const cancel = await viewer("POST", "/apis/v1/namespaces/team-b/builds/app-1/cancel");
  expect(cancel.status).toBe(403);
  expect(cancel.json.message).toBe(
    'token "viewer" may not cancel Builds in namespace team-b (role view)',
  );
  expect((await viewer("DELETE", bcPath("team-b", "app"))).status).toBe(403);

  // The BuildConfig is as it was, the scheduler made no build and cancelled none.
  expect((await bootstrap("GET", bcPath("team-b", "app"))).json).toEqual(before);
  expect(await buildsOf(bootstrap, "team-b")).toEqual([{ name: "app-1", phase: "Pending" }]);
  // The same cancel from a token that may does land, so the refused one would have shown.
  expect((await bootstrap("POST", "/apis/v1/namespaces/team-b/builds/app-1/cancel")).status).toBe(
    202,
  );
  await eventually(
    async () =>
      (await buildsOf(bootstrap, "team-b"))[0]?.phase === "Cancelled" ? true : undefined,
    "app-1 cancelled",
  );
});

test("no token reads a BuildConfig's webhook secrets back, not even an editor's: they would let it start builds", async ({
  kiln,
}) => {
  const hooked = buildConfig("team-b", "hooked");
  (hooked.spec as Record<string, unknown>).triggers = [
    { type: "GitHub", github: { secret: "webhook-s3cret" } },
  ];
  expect((await kiln.bootstrap("POST", "/apis/v1/apply", { items: [hooked] })).status).toBe(200);
  const viewer = kiln.as(await kiln.token("viewer", "team-b=view"));
  for (const path of [bcPath("team-b", "hooked"), bcPath("team-b")]) {
    const res = await viewer("GET", path);
    expect(res.status).toBe(200);
    expect(res.text).toContain('"secret":"(redacted)"');
    expect(res.text).not.toContain("webhook-s3cret");
  }
  const editor = kiln.as(await kiln.token("editor", "team-b=edit"));
  expect((await editor("GET", bcPath("team-b", "hooked"))).json.spec.triggers[0].github).toEqual({
    secret: "(redacted)",
  });
});

test("a token of team-a gets 403 for anything of team-b, whether it exists or not", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  await bootstrap("POST", "/apis/v1/apply", {
    items: [buildConfig("team-b", "secret-app"), buildConfig("team-a", "app")],
  });
  const teamA = kiln.as(await kiln.token("team-a-ci", "team-a=admin"));
  expect((await teamA("GET", bcPath("team-a", "app"))).status).toBe(200);

  const refused = 'token "team-a-ci" may not read BuildConfigs in namespace team-b (no role there)';
  for (const name of ["secret-app", "no-such-app"]) {
    const res = await teamA("GET", bcPath("team-b", name));
    expect(res.status).toBe(403);
    expect(res.json.message).toBe(refused);
  }
  for (const [method, path] of [
    ["GET", bcPath("team-b")],
    ["GET", "/apis/v1/namespaces/team-b/builds"],
    ["GET", "/apis/v1/namespaces/team-b/builds/secret-app-1/log"],
    ["GET", "/apis/v1/namespaces/team-b/secrets"],
    ["GET", "/apis/v1/namespaces/team-b/imagestreamgrants"],
    ["GET", "/apis/v1/namespaces/team-b/webhookdeliveries"],
    ["GET", "/apis/v1/namespaces/team-b/deploys"],
    ["DELETE", bcPath("team-b", "secret-app")],
    ["POST", `${bcPath("team-b", "secret-app")}/instantiate`],
    ["POST", "/apis/v1/namespaces/team-b/builds/secret-app-1/cancel"],
  ] as const) {
    const res = await teamA(method, path, method === "POST" ? {} : undefined);
    expect(res.status, `${method} ${path}`).toBe(403);
    expect(res.json.error).toBe("Forbidden");
    expect(res.text).not.toContain("secret-app");
  }
  // `kiln tag` may not copy another namespace's image into one's own.
  const tag = await teamA("POST", "/apis/v1/namespaces/team-a/imagestreamtags", {
    from: { kind: "ImageStreamTag", name: "secret-app:latest", namespace: "team-b" },
    tag: "stolen:latest",
  });
  expect(tag.status).toBe(403);
  expect(tag.json.message).toBe(
    'token "team-a-ci" may not read ImageStreams in namespace team-b (no role there)',
  );
  expect((await bootstrap("GET", bcPath("team-b", "secret-app"))).status).toBe(200);
  expect(await buildsOf(bootstrap, "team-b")).toEqual([]);
});

test("an apply with one document the token may not edit is refused whole and stores nothing", async ({
  kiln,
}) => {
  const editor = kiln.as(await kiln.token("editor", "team-b=edit", "default=view"));
  const res = await editor("POST", "/apis/v1/apply", {
    items: [buildConfig("team-b", "app"), buildConfig("default", "app")],
  });
  expect(res.status).toBe(403);
  expect(res.json.details).toEqual([
    {
      path: "items[1]",
      message: 'token "editor" may not edit BuildConfigs in namespace default (role view)',
    },
  ]);
  expect((await kiln.bootstrap("GET", bcPath("team-b"))).json.items).toEqual([]);
  // Grants are the namespace admin's: an editor may not give its own namespace images.
  const grant = await editor("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "ImageStreamGrant",
        metadata: { name: "self", namespace: "team-b" },
        spec: { grantee: { namespace: "default" }, access: ["pull"] },
      },
    ],
  });
  expect(grant.status).toBe(403);
  expect(grant.json.message).toBe(
    'token "editor" may not edit ImageStreamGrants in namespace team-b (role edit)',
  );
});

test("cluster-wide listings show only the namespaces the token may read", async ({ kiln }) => {
  const { bootstrap } = kiln;
  await bootstrap("POST", "/apis/v1/apply", {
    items: [
      buildConfig("team-a", "base"),
      buildConfig("team-b", "hidden"),
      buildConfig("default", "public"),
    ],
  });
  const teamA = kiln.as(await kiln.token("reader", "team-a=view", "default=view"));
  const graph = await teamA("GET", "/apis/v1/buildgraph");
  expect(graph.json.nodes.map((n: any) => n.buildConfig)).toEqual([
    "default/public",
    "team-a/base",
  ]);
  expect(graph.text).not.toContain("hidden");
  expect(
    (await bootstrap("GET", "/apis/v1/buildgraph")).json.nodes.map((n: any) => n.buildConfig),
  ).toHaveLength(3);
  const deploys = await teamA("GET", "/apis/v1/deploys");
  expect(deploys.status).toBe(200);
  expect(deploys.json.items).toEqual([]);
});

test("a revoked token is refused with 401 on its very next request", async ({ kiln }) => {
  const token = await kiln.token("short-lived", "team-a=edit");
  const holder = kiln.as(token);
  expect((await holder("GET", bcPath("team-a"))).status).toBe(200);
  expect((await kiln.bootstrap("DELETE", "/apis/v1/tokens/short-lived")).status).toBe(200);
  const after = await holder("GET", bcPath("team-a"));
  expect(after.status).toBe(401);
  expect(after.json).toEqual({
    error: "Unauthorized",
    message: "the bearer token is unknown or was revoked",
  });
  expect((await kiln.as("kiln_made-up")("GET", bcPath("team-a"))).status).toBe(401);
  expect((await kiln.as(null)("GET", bcPath("team-a"))).status).toBe(401);
});

test("a token is shown once: not listed, not in the database in clear, not in any log line", async ({
  kiln,
}) => {
  const created = await kiln.bootstrap("POST", "/apis/v1/tokens", {
    name: "ci",
    roles: [{ namespace: "team-a", role: "edit" }],
  });
  expect(created.status).toBe(201);
  const token: string = created.json.token;
  expect(token).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
  // It works, and using it logs nothing of it either.
  expect((await kiln.as(token)("GET", bcPath("team-a"))).status).toBe(200);

  const listed = await kiln.bootstrap("GET", "/apis/v1/tokens");
  expect(listed.json.items).toEqual([
    {
      apiVersion: "kiln.dev/v1",
      kind: "Token",
      metadata: { name: "ci", creationTimestamp: expect.any(String) },
      roles: [{ namespace: "team-a", role: "edit" }],
      createdBy: "bootstrap",
    },
  ]);
  const rows = await withAdmin(
    kiln.databaseUrl,
    async (c) => (await c.query("select * from api_tokens")).rows,
  );
  expect(rows).toHaveLength(1);
  expect(JSON.stringify(rows)).not.toContain(token);
  expect(JSON.stringify(rows)).not.toContain(token.slice("kiln_".length));
  expect(rows[0].token_sha256).toBe(createHash("sha256").update(token).digest("hex"));
  expect(kiln.logs()).toContain("token created");
  expect(kiln.logs()).not.toContain(token.slice("kiln_".length));
});

test("an admin manages the tokens of its own namespaces only", async ({ kiln }) => {
  const admin = kiln.as(await kiln.token("lead-b", "team-b=admin", "team-a=edit"));
  const mine = await admin("POST", "/apis/v1/tokens", {
    name: "b-viewer",
    roles: [{ namespace: "team-b", role: "view" }],
  });
  expect(mine.status).toBe(201);
  const elsewhere = await admin("POST", "/apis/v1/tokens", {
    name: "a-viewer",
    roles: [
      { namespace: "team-b", role: "view" },
      { namespace: "team-a", role: "view" },
    ],
  });
  expect(elsewhere.status).toBe(403);
  expect(elsewhere.json.message).toBe(
    'token "lead-b" may not edit Tokens in namespace team-a (role edit)',
  );
  const editor = kiln.as(await kiln.token("b-editor", "team-b=edit"));
  expect(
    (
      await editor("POST", "/apis/v1/tokens", {
        name: "escalated",
        roles: [{ namespace: "team-b", role: "admin" }],
      })
    ).status,
  ).toBe(403);

  await kiln.token("shared", "team-b=view", "team-c=edit");
  await kiln.token("c-only", "team-c=admin");
  // Listed: the tokens with a role in team-b, with their team-b roles only.
  const listed = await admin("GET", "/apis/v1/tokens");
  expect(listed.json.items.map((t: any) => [t.metadata.name, t.roles])).toEqual([
    ["b-editor", [{ namespace: "team-b", role: "edit" }]],
    ["b-viewer", [{ namespace: "team-b", role: "view" }]],
    ["lead-b", [{ namespace: "team-b", role: "admin" }]],
    ["shared", [{ namespace: "team-b", role: "view" }]],
  ]);
  const shared = await admin("DELETE", "/apis/v1/tokens/shared");
  expect(shared.status).toBe(403);
  expect(shared.json.message).toBe(
    'token "lead-b" may not delete Tokens in namespace team-c (no role there)',
  );
  expect((await admin("DELETE", "/apis/v1/tokens/c-only")).json).toEqual({
    error: "NotFound",
    message: 'token "c-only" not found',
  });
  expect((await admin("DELETE", "/apis/v1/tokens/b-viewer")).status).toBe(200);
  const names = (await kiln.bootstrap("GET", "/apis/v1/tokens")).json.items.map(
    (t: any) => t.metadata.name,
  );
  expect(names).toEqual(["b-editor", "c-only", "lead-b", "shared"]);
  // A bad request names the field and creates nothing.
  const bad = await admin("POST", "/apis/v1/tokens", {
    name: "x",
    roles: [{ namespace: "team-b", role: "owner" }],
  });
  expect(bad.status).toBe(400);
  expect(bad.json.details[0].path).toBe("roles[0].role");
});
