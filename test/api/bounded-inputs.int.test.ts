/**
 * Bounded inputs, against the real api and scheduler on a real PostgreSQL and NATS (the
 * embedded nats-server, with its default 1 MiB max_payload): what the pipeline cannot carry or
 * honour is refused where it enters, naming the field and the limit, and changes nothing; what
 * is accepted is built, read and deleted.
 */
import { requestBuild } from "@kiln/bus";
import { applyResources, createDatabase } from "@kiln/db";
import { NoopEngine } from "@kiln/engine";
import {
  buildSpecFor,
  jsonBytes,
  maxBuildSpecBytes,
  parseResource,
  parseResources,
  type BuildConfigSpec,
} from "@kiln/domain";
import { createLogger } from "@kiln/runtime";
import { BuildRunner } from "@kiln/runner";
import { expect } from "vitest";
import { eventually, test, type Caller } from "../support/tenant-api.js";

const bcPath = (name = "") => `/apis/v1/namespaces/default/buildconfigs${name ? `/${name}` : ""}`;

function dockerfileBuildConfig(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace: "default" },
    spec: {
      source: { dockerfile: "FROM scratch\n" },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
      ...spec,
    },
  };
}

const withDockerfile = (name: string, dockerfile: string) =>
  dockerfileBuildConfig(name, { source: { dockerfile } });

async function buildsOf(call: Caller): Promise<{ name: string; phase: string; reason?: string }[]> {
  const res = await call("GET", "/apis/v1/namespaces/default/builds");
  return res.json.items.map((b: any) => ({
    name: b.metadata.name,
    phase: b.status.phase,
    ...(b.status.reason ? { reason: b.status.reason } : {}),
  }));
}

const limit = "the 900 KiB (921,600 bytes) a build can carry";

test("an inline Dockerfile too large for the bus is refused at apply, naming the field and the limit, and nothing is stored", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const apply = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      dockerfileBuildConfig("fine"),
      withDockerfile("big", "#".repeat(1024 * 1024)),
      // Neither part alone is over: together they are, and the larger is named.
      dockerfileBuildConfig("sum", {
        source: { dockerfile: "#".repeat(600 * 1024) },
        strategy: {
          type: "Docker",
          dockerStrategy: { buildArgs: [{ name: "PAD", value: "x".repeat(400 * 1024) }] },
        },
      }),
    ],
  });
  expect(apply.status).toBe(400);
  expect(apply.json.error).toBe("Invalid");
  expect(apply.json.details).toEqual([
    {
      path: "items[1].spec.source.dockerfile",
      message: `1,048,576 bytes is over ${limit}`,
    },
    {
      path: "items[2].spec.source.dockerfile",
      message: expect.stringMatching(
        /^614,400 bytes, which makes the build's spec 1,02\d,\d{3} bytes, over the 900 KiB/,
      ),
    },
  ]);
  // All or nothing: not even the one that fits was stored.
  expect((await bootstrap("GET", bcPath())).json.items).toEqual([]);
  expect(await buildsOf(bootstrap)).toEqual([]);
});

test("a Dockerfile at the limit is stored, instantiated and dispatched; one byte more is refused", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const registry = kiln.infra.registry.address;
  // What the api weighs: the spec a build of it would carry, with the longest build number.
  const weight = (doc: unknown) =>
    jsonBytes(
      buildSpecFor(
        (parseResource(doc) as { spec: BuildConfigSpec }).spec,
        {
          namespace: "default",
          buildConfig: "edge",
          number: 2_147_483_647,
          env: [],
          cause: { type: "ConfigChange", message: "Build configuration change" },
        },
        registry,
      ),
    );
  const atLimit = "#".repeat(1 + maxBuildSpecBytes - weight(withDockerfile("edge", "#")));
  expect(weight(withDockerfile("edge", atLimit))).toBe(maxBuildSpecBytes);

  const over = await bootstrap("POST", "/apis/v1/apply", {
    items: [withDockerfile("edge", `${atLimit}#`)],
  });
  expect(over.status).toBe(400);
  expect(over.json.details).toEqual([
    {
      path: "items[0].spec.source.dockerfile",
      message: expect.stringMatching(/, over the 900 KiB \(921,600 bytes\) a build can carry$/),
    },
  ]);
  expect((await bootstrap("GET", bcPath("edge"))).status).toBe(404);

  const applied = await bootstrap("POST", "/apis/v1/apply", {
    items: [withDockerfile("edge", atLimit)],
  });
  expect(applied.status).toBe(200);
  const started = await bootstrap("POST", `${bcPath("edge")}/instantiate`, {});
  expect(started.status).toBe(201);
  // Pending: the scheduler's publish of the ~0.9 MiB build.dispatched got through to the stream.
  await eventually(
    async () => ((await buildsOf(bootstrap))[0]?.phase === "Pending" ? true : undefined),
    "edge-1 dispatched",
  );
  expect(kiln.logs()).not.toMatch(/too large to dispatch|MAX_PAYLOAD/);
});

test("instantiate with env too large for the bus is refused naming env and the limit, and asks for no build", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  expect(
    (await bootstrap("POST", "/apis/v1/apply", { items: [dockerfileBuildConfig("app")] })).status,
  ).toBe(200);
  const requestId = "too-much-env";
  const refused = await bootstrap("POST", `${bcPath("app")}/instantiate`, {
    requestId,
    env: [{ name: "BIG", value: "x".repeat(1024 * 1024) }],
  });
  expect(refused.status).toBe(400);
  expect(refused.json.details).toEqual([
    { path: "env[0].value", message: `1,048,576 bytes is over ${limit}` },
  ]);
  const many = await bootstrap("POST", `${bcPath("app")}/instantiate`, {
    env: Array.from({ length: 20_000 }, (_, i) => ({ name: `V${i}`, value: "x".repeat(40) })),
  });
  expect(many.status).toBe(400);
  expect(many.json.details[0]).toMatchObject({ path: "env" });
  expect(many.json.details[0].message).toMatch(/ bytes is over the 900 KiB/);

  // Nothing was asked of the scheduler: no build.requested, no build.
  expect(await kiln.bus.count("build.requested", requestId)).toBe(0);
  const fine = await bootstrap("POST", `${bcPath("app")}/instantiate`, {
    env: [{ name: "SMALL", value: "x".repeat(100 * 1024) }],
  });
  expect(fine.status).toBe(201);
  expect((await buildsOf(bootstrap)).map((b) => b.name)).toEqual(["app-1"]);
});

test("a build too large to dispatch that got past the api (stored before the limit) fails SpecTooLarge at once, not New for ever", async ({
  kiln,
}) => {
  // As an older Kiln stored it: straight into the database, past the api's weighing.
  const db = createDatabase(kiln.databaseUrl);
  try {
    await applyResources(
      db.db,
      parseResources([withDockerfile("old", "#".repeat(1100 * 1024))]),
      kiln.infra.secrets,
    );
  } finally {
    await db.close();
  }
  // The api refuses to start it, naming why; a trigger could still ask for one.
  const started = await kiln.bootstrap("POST", `${bcPath("old")}/instantiate`, {});
  expect(started.status).toBe(400);
  expect(started.json.details[0].path).toBe("spec.source.dockerfile");
  await requestBuild(kiln.bus, {
    requestId: "from-a-trigger",
    namespace: "default",
    buildConfig: "old",
    env: [],
    cause: { type: "ConfigChange", message: "Build configuration change" },
  });
  const failed = await eventually(async () => {
    const [build] = await buildsOf(kiln.bootstrap);
    return build?.phase === "Failed" ? build : undefined;
  }, "old-1 failed");
  expect(failed).toEqual({ name: "old-1", phase: "Failed", reason: "SpecTooLarge" });
  const build = await kiln.bootstrap("GET", "/apis/v1/namespaces/default/builds/old-1");
  expect(build.json.status.message).toMatch(
    /^the build's dispatch is 1,12\d,\d{3} bytes, over the 1,048,576 bytes the bus carries \(NATS max_payload\)/,
  );
});

test("completionDeadlineSeconds above the longest timer is refused; at it, a build runs to its end", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const over = await bootstrap("POST", "/apis/v1/apply", {
    items: [dockerfileBuildConfig("slow", { completionDeadlineSeconds: 2_147_484 })],
  });
  expect(over.status).toBe(400);
  expect(over.json.details).toEqual([
    {
      path: "items[0].spec.completionDeadlineSeconds",
      message: "must be at most 2,147,483 (about 24.8 days: the longest timer a runner can set)",
    },
  ]);
  const history = await bootstrap("POST", "/apis/v1/apply", {
    items: [dockerfileBuildConfig("slow", { successfulBuildsHistoryLimit: 2 ** 31 })],
  });
  expect(history.status).toBe(400);
  expect(history.json.details[0].path).toBe("items[0].spec.successfulBuildsHistoryLimit");
  expect((await bootstrap("GET", bcPath("slow"))).status).toBe(404);

  expect(
    (
      await bootstrap("POST", "/apis/v1/apply", {
        items: [dockerfileBuildConfig("slow", { completionDeadlineSeconds: 2_147_483 })],
      })
    ).status,
  ).toBe(200);
  // A runner whose "build" takes 2 s: a deadline timer that overflowed would fail it at once.
  const runner = new BuildRunner({
    bus: kiln.bus,
    engine: new NoopEngine({ buildMs: 2_000 }),
    logger: createLogger({ service: "bounded-inputs-runner", level: "silent" }),
    sealingKey: kiln.infra.sealingKeys.privateKey,
  });
  await runner.start();
  try {
    const started = Date.now();
    expect((await bootstrap("POST", `${bcPath("slow")}/instantiate`, {})).status).toBe(201);
    const ended = await eventually(async () => {
      const [build] = await buildsOf(bootstrap);
      return build && ["Complete", "Failed", "Error"].includes(build.phase) ? build : undefined;
    }, "slow-1 ended");
    expect(ended).toEqual({ name: "slow-1", phase: "Complete" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  } finally {
    await runner.stop();
  }
});

test("names that could never be built are refused naming the rule; the longest accepted ones are built, read and deleted", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const registry = kiln.infra.registry.address;
  const subdomain =
    "must be a lowercase DNS-1123 subdomain: letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit";
  const refused = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      dockerfileBuildConfig("a..b"),
      dockerfileBuildConfig("Hello"),
      dockerfileBuildConfig("b".repeat(166)),
      { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "i".repeat(254) } },
      { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "i".repeat(253) } },
      dockerfileBuildConfig("app", {
        output: { to: { kind: "ImageStreamTag", name: "Bad..Stream:latest" } },
      }),
    ],
  });
  expect(refused.status).toBe(400);
  expect(refused.json.details).toEqual([
    { path: "items[0].metadata.name", message: subdomain },
    { path: "items[1].metadata.name", message: subdomain },
    {
      path: "items[2].metadata.name",
      message:
        "must be at most 165 characters (its builds are <name>-<number>, and localhost/kiln/<namespace>/<build> must be an image name of at most 255)",
    },
    { path: "items[3].metadata.name", message: "must be at most 253 characters" },
    {
      path: "items[5].spec.output.to.name",
      message:
        "Bad..Stream is not an ImageStream name (a lowercase DNS-1123 subdomain of at most 253 characters)",
    },
  ]);
  // 253 parses; it is refused once the registry is known: no registry takes the image name.
  const stream = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "i".repeat(253) } },
    ],
  });
  expect(stream.status).toBe(400);
  expect(stream.json.details).toEqual([
    {
      path: "items[0].metadata.name",
      message: `makes the image name ${registry}/default/… ${registry.length + 262} characters, over the 255 an image name may have (at most ${255 - registry.length - 9} characters for this name in this namespace)`,
    },
  ]);
  expect((await bootstrap("GET", "/apis/v1/namespaces/default/imagestreams")).json.items).toEqual(
    [],
  );

  // The longest BuildConfig name and a Kubernetes-long Secret name: applied, read, built, deleted.
  const bc = "b".repeat(165);
  const secret = `${"s".repeat(100)}.${"s".repeat(100)}.${"s".repeat(51)}`;
  expect(secret).toHaveLength(253);
  const applied = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      dockerfileBuildConfig(bc),
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: secret, namespace: "default" },
        stringData: { WebHookSecretKey: "s3cret" },
      },
    ],
  });
  expect(applied.status).toBe(200);
  expect((await bootstrap("GET", bcPath(bc))).json.metadata.name).toBe(bc);
  expect((await bootstrap("GET", `/apis/v1/namespaces/default/secrets/${secret}`)).status).toBe(
    200,
  );
  const started = await bootstrap("POST", `${bcPath(bc)}/instantiate`, {});
  expect(started.status).toBe(201);
  expect(started.json.metadata.name).toBe(`${bc}-1`);
  await eventually(
    async () => ((await buildsOf(bootstrap))[0]?.phase === "Pending" ? true : undefined),
    "the long build dispatched",
  );
  expect(
    (await bootstrap("GET", `/apis/v1/namespaces/default/builds/${bc}-1`)).json.status.phase,
  ).toBe("Pending");
  expect((await bootstrap("GET", `/apis/v1/namespaces/default/builds/${bc}-1/log`)).status).toBe(
    200,
  );
  expect((await bootstrap("DELETE", `/apis/v1/namespaces/default/secrets/${secret}`)).status).toBe(
    200,
  );
  expect((await bootstrap("DELETE", bcPath(bc))).status).toBe(200);
  expect((await bootstrap("GET", bcPath(bc))).status).toBe(404);
});
