/**
 * One build per distinct set of input digests, across ConfigChange, ImageChange and manual
 * starts, as OpenShift records lastTriggeredImageID. Real api, scheduler, PostgreSQL and NATS;
 * no runner (builds stay Pending).
 */
import { createDatabase } from "@kiln/db";
import { TagRecorder } from "@kiln/image-tags";
import { createLogger } from "@kiln/runtime";
import { expect } from "vitest";
import { buildConfig, eventually, test, type Caller } from "../support/tenant-api.js";

const silent = createLogger({ service: "one-build-test", level: "silent" });
const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

async function buildsOf(call: Caller, name: string): Promise<any[]> {
  const res = await call("GET", "/apis/v1/namespaces/default/builds");
  return res.json.items
    .filter((b: any) => b.metadata.name.startsWith(`${name}-`))
    .sort((a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name));
}

/** Waits until the scheduler's image pass after everything before it is over (a marker BuildConfig builds). */
async function passesDone(
  call: Caller,
  moveTag: (k: string, d: string) => Promise<void>,
  n: number,
) {
  await moveTag("default/marker-base:latest", digest(100 + n));
  await eventually(async () => {
    const marker = await buildsOf(call, "marker");
    return marker.length >= n ? marker : undefined;
  }, `marker build ${n}`);
}

test("a BuildConfig created with ConfigChange and ImageChange triggers builds once; a manual build records its digest, and the ImageChange of that digest builds nothing", async ({
  kiln,
  infra,
}) => {
  const { bootstrap, moveTag } = kiln;
  const marker = buildConfig("default", "marker", { from: "marker-base:latest", trigger: true });
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [marker] })).status).toBe(200);
  await moveTag("default/base:latest", digest(1));

  const both = buildConfig("default", "both", { from: "base:latest", trigger: true });
  both.spec.triggers = [{ type: "ConfigChange" }, { type: "ImageChange" }] as never;
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [both] })).status).toBe(200);
  await eventually(
    async () => ((await buildsOf(bootstrap, "both")).length ? true : undefined),
    "both-1",
  );
  await passesDone(bootstrap, moveTag, 1);
  const built = await buildsOf(bootstrap, "both");
  expect(built.map((b) => b.metadata.name)).toEqual(["both-1"]);

  // Paused, so only the manual start builds from digest(1); unpaused, the trigger has nothing new.
  const manual = buildConfig("default", "manual", { from: "base:latest", trigger: true });
  manual.spec.triggers = [{ type: "ImageChange", imageChange: { paused: true } }] as never;
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [manual] })).status).toBe(200);
  const started = await bootstrap(
    "POST",
    "/apis/v1/namespaces/default/buildconfigs/manual/instantiate",
    {},
  );
  expect([201, 202], started.text).toContain(started.status);
  const [first] = await eventually(async () => {
    const b = await buildsOf(bootstrap, "manual");
    return b.length ? b : undefined;
  }, "manual-1");
  // The manual build pulls the digest it records, not whatever the tag holds when it runs.
  expect(first.spec.strategy.dockerStrategy.from.name).toBe(
    `${infra.registry.address}/default/base@${digest(1)}`,
  );
  manual.spec.triggers = [{ type: "ImageChange" }] as never;
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [manual] })).status).toBe(200);
  await passesDone(bootstrap, moveTag, 2);
  expect((await buildsOf(bootstrap, "manual")).map((b) => b.metadata.name)).toEqual(["manual-1"]);

  // A new digest still builds, once.
  await moveTag("default/base:latest", digest(2));
  await passesDone(bootstrap, moveTag, 3);
  expect((await buildsOf(bootstrap, "manual")).map((b) => b.metadata.name)).toEqual([
    "manual-1",
    "manual-2",
  ]);
});

test("a build FROM an imported tag pulls the imported digest from its source registry (referencePolicy Source); Local is refused at apply", async ({
  kiln,
  infra,
}) => {
  const { bootstrap, bus } = kiln;
  const source = "registry.example.test/library/builder";
  const db = createDatabase(kiln.databaseUrl);
  try {
    // The image-watcher's import, as its scheduled importer records it.
    await new TagRecorder({ db: db.db, bus, logger: silent }).record({
      namespace: "default",
      imageStream: "imported",
      tag: "latest",
      digest: digest(5),
      imageReference: `${source}@${digest(5)}`,
      cause: { type: "Import", message: `imported from ${source}:latest` },
    });
  } finally {
    await db.close();
  }
  const bc = buildConfig("default", "from-import", { from: "imported:latest" });
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [bc] })).status).toBe(200);
  const started = await bootstrap(
    "POST",
    "/apis/v1/namespaces/default/buildconfigs/from-import/instantiate",
    {},
  );
  expect([201, 202], started.text).toContain(started.status);
  const [build] = await eventually(async () => {
    const b = await buildsOf(bootstrap, "from-import");
    return b.length ? b : undefined;
  }, "from-import-1");
  expect(build.spec.strategy.dockerStrategy.from.name).toBe(`${source}@${digest(5)}`);
  expect(build.spec.strategy.dockerStrategy.from.name).not.toContain(infra.registry.address);

  const local = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "image.openshift.io/v1",
        kind: "ImageStream",
        metadata: { name: "mirrored", namespace: "default" },
        spec: {
          tags: [
            {
              name: "latest",
              from: { kind: "DockerImage", name: `${source}:latest` },
              importPolicy: { scheduled: true },
              referencePolicy: { type: "Local" },
            },
          ],
        },
      },
    ],
  });
  expect(local.status).toBe(400);
  expect(local.text).toContain("spec.tags[0].referencePolicy.type");
  expect(local.text).toContain("Kiln does not mirror imported images into its registry");
  expect((await bootstrap("GET", "/apis/v1/namespaces/default/imagestreams/mirrored")).status).toBe(
    404,
  );
});

test("a build set off by its base's change also pulls its other input, an imported tag, from the imported digest's source (referencePolicy Source)", async ({
  kiln,
  infra,
}) => {
  const { bootstrap, bus } = kiln;
  const source = "registry.example.test/library/tools";
  const db = createDatabase(kiln.databaseUrl);
  const recorder = new TagRecorder({ db: db.db, bus, logger: silent });
  try {
    await recorder.record({
      namespace: "default",
      imageStream: "tools",
      tag: "latest",
      digest: digest(7),
      imageReference: `${source}@${digest(7)}`,
      cause: { type: "Import", message: `imported from ${source}:latest` },
    });
    const bc = buildConfig("default", "two-inputs", { from: "base:latest", trigger: true });
    const withImageSource = {
      ...bc,
      spec: {
        ...bc.spec,
        source: {
          ...bc.spec.source,
          images: [
            {
              from: { kind: "ImageStreamTag", name: "tools:latest" },
              paths: [{ sourcePath: "/usr/bin/tool", destinationDir: "." }],
            },
          ],
        },
      },
    };
    expect((await bootstrap("POST", "/apis/v1/apply", { items: [withImageSource] })).status).toBe(
      200,
    );
    // Kiln's own base moves: an image change of the strategy's from, which pins only that one.
    await recorder.record({
      namespace: "default",
      imageStream: "base",
      tag: "latest",
      digest: digest(8),
      imageReference: `${infra.registry.address}/default/base@${digest(8)}`,
      cause: { type: "Build", build: "base-1" },
    });
  } finally {
    await db.close();
  }
  const [build] = await eventually(async () => {
    const b = await buildsOf(bootstrap, "two-inputs");
    return b.length ? b : undefined;
  }, "two-inputs-1");
  expect(build.spec.triggeredBy[0].type).toBe("ImageChange");
  expect(build.spec.strategy.dockerStrategy.from.name).toBe(
    `${infra.registry.address}/default/base@${digest(8)}`,
  );
  expect(build.spec.source.images[0].from.name).toBe(`${source}@${digest(7)}`);
});
