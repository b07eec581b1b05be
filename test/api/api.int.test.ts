import { createApiServer } from "@kiln/api";
import { createDatabase, type Database } from "@kiln/db";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { expect } from "vitest";

const token = "test-token-0123456789abcdef";
const logger = createLogger({ service: "api-test", level: "silent" });

/** The api in-process, on the test's own database and bus prefix (no scheduler: nothing builds). */
const test = baseTest.extend<{
  call: (
    method: string,
    path: string,
    body?: unknown,
    auth?: string | null,
  ) => Promise<{ status: number; json: any }>;
}>({
  call: async ({ infra, database, subjectPrefix }, use) => {
    const db: Database = createDatabase(database.url);
    const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "api-test", logger });
    const app = createApiServer({
      db: db.db,
      bus,
      logger,
      token,
      registry: infra.registry.address,
      secrets: infra.secrets,
      instantiateWaitMs: 300,
    });
    await app.ready();
    await use(async (method, path, body, auth = `Bearer ${token}`) => {
      const res = await app.inject({
        method: method as "GET",
        url: path,
        headers: auth ? { authorization: auth } : {},
        ...(body === undefined ? {} : { payload: body as object }),
      });
      return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : null };
    });
    await app.close();
    await bus.drain();
    await db.close();
  },
});

const bc = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name, ...extra },
  spec: {
    source: { git: { uri: "https://git.example.test/app.git" } },
    strategy: { type: "Docker" },
    output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
  },
});
const is = (name: string) => ({
  apiVersion: "kiln.dev/v1",
  kind: "ImageStream",
  metadata: { name },
  spec: {},
});

test("every route but /healthz and /readyz needs the bearer token", async ({ call }) => {
  expect((await call("GET", "/healthz", undefined, null)).json).toEqual({
    status: "ok",
    checks: { eventLoop: "ok", nats: "ok" },
  });
  expect((await call("GET", "/readyz", undefined, null)).json).toEqual({
    status: "ok",
    checks: { nats: "ok", postgres: "ok" },
  });
  const missing = await call("GET", "/apis/v1/namespaces/default/buildconfigs", undefined, null);
  expect(missing.status).toBe(401);
  expect(missing.json.error).toBe("Unauthorized");
  expect(
    (await call("GET", "/apis/v1/namespaces/default/buildconfigs", undefined, "Bearer wrong"))
      .status,
  ).toBe(401);
});

test("apply creates, then reports unchanged and configured, and get returns the stored resource", async ({
  call,
}) => {
  const first = await call("POST", "/apis/v1/apply", { items: [bc("app"), is("app")] });
  expect(first.status).toBe(200);
  expect(first.json.items.map((i: any) => `${i.kind}/${i.name}:${i.action}`)).toEqual([
    "BuildConfig/app:created",
    "ImageStream/app:created",
  ]);
  expect((await call("POST", "/apis/v1/apply", { items: [bc("app")] })).json.items[0].action).toBe(
    "unchanged",
  );
  const changed = bc("app");
  changed.spec.source.git.uri = "https://git.example.test/other.git";
  const configured = await call("POST", "/apis/v1/apply", { items: [changed] });
  expect(configured.json.items[0]).toMatchObject({ action: "configured", resourceVersion: "2" });

  const got = await call("GET", "/apis/v1/namespaces/default/buildconfigs/app");
  expect(got.json.spec.source.git.uri).toBe("https://git.example.test/other.git");
  expect(got.json.spec.runPolicy).toBe("Serial");
  expect(got.json.status.lastVersion).toBe(0);
  expect((await call("GET", "/apis/v1/namespaces/default/imagestreams")).json.items).toHaveLength(
    1,
  );
});

test("an invalid document names every wrong field and stores nothing, not even the valid ones", async ({
  call,
}) => {
  const broken = {
    ...bc("bad"),
    spec: {
      source: {},
      strategy: { type: "Source", sourceStrategy: { from: { kind: "DockerImage" } } },
    },
  };
  const res = await call("POST", "/apis/v1/apply", {
    items: [bc("good"), broken, { apiVersion: "kiln.dev/v1", kind: "Widget" }],
  });
  expect(res.status).toBe(400);
  expect(res.json.error).toBe("Invalid");
  expect(res.json.details).toEqual(
    expect.arrayContaining([
      { path: "items[1].spec.source", message: "one of git, dockerfile or binary is required" },
      { path: "items[1].spec.strategy.sourceStrategy.from.name", message: "required" },
      {
        path: "items[2].kind",
        message:
          "Widget is not a kind of kiln.dev/v1 (use BuildConfig, ImageStream, Secret, ImageStreamGrant or BuilderTemplate)",
      },
    ]),
  );
  expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs")).json.items).toEqual([]);
});

test("a stale resourceVersion is a 409 and the stored resource is left as it was", async ({
  call,
}) => {
  await call("POST", "/apis/v1/apply", { items: [bc("app")] });
  const current = (await call("GET", "/apis/v1/namespaces/default/buildconfigs/app")).json;
  const update = bc("app", { resourceVersion: current.metadata.resourceVersion });
  update.spec.source.git.uri = "https://git.example.test/v2.git";
  expect((await call("POST", "/apis/v1/apply", { items: [update] })).status).toBe(200);
  // A second writer still holding the old version loses, whatever else is in its apply.
  const stale = bc("app", { resourceVersion: current.metadata.resourceVersion });
  stale.spec.source.git.uri = "https://git.example.test/v3.git";
  const res = await call("POST", "/apis/v1/apply", { items: [is("unrelated"), stale] });
  expect(res.status).toBe(409);
  expect(res.json.error).toBe("Conflict");
  expect(
    (await call("GET", "/apis/v1/namespaces/default/buildconfigs/app")).json.spec.source.git.uri,
  ).toBe("https://git.example.test/v2.git");
  expect((await call("GET", "/apis/v1/namespaces/default/imagestreams")).json.items).toEqual([]);
});

test("unknown BuildConfigs and builds are 404s, and a bad start-build body is a 400", async ({
  call,
}) => {
  const start = await call(
    "POST",
    "/apis/v1/namespaces/default/buildconfigs/ghost/instantiate",
    {},
  );
  expect(start.status).toBe(404);
  expect(start.json).toMatchObject({
    error: "NotFound",
    message: "BuildConfig default/ghost not found",
  });
  expect((await call("GET", "/apis/v1/namespaces/default/builds/ghost-1")).status).toBe(404);
  expect((await call("DELETE", "/apis/v1/namespaces/default/buildconfigs/ghost")).status).toBe(404);
  await call("POST", "/apis/v1/apply", { items: [bc("app")] });
  const bad = await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {
    commit: "not a sha",
    env: [{ name: "1X", value: "" }],
  });
  expect(bad.status).toBe(400);
  expect(bad.json.details.map((d: any) => d.path)).toEqual(["commit", "env[0].name"]);
});

test("a body that is not a list of resources is refused with the field named", async ({ call }) => {
  const res = await call("POST", "/apis/v1/apply", { kind: "BuildConfig" });
  expect(res.status).toBe(400);
  expect(res.json.details).toEqual([{ path: "items", message: "required: a list of resources" }]);
});

test("deleting a BuildConfig removes it", async ({ call }) => {
  await call("POST", "/apis/v1/apply", { items: [bc("app")] });
  expect((await call("DELETE", "/apis/v1/namespaces/default/buildconfigs/app")).status).toBe(200);
  expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs/app")).status).toBe(404);
});
