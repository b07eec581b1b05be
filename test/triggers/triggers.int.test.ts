import { Bus, imageChangeKey } from "@kiln/bus";
import { createLogger } from "@kiln/runtime";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import { afterEach, expect } from "vitest";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

const logger = createLogger({ service: "triggers-test", level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
let bus: Bus | undefined;
afterEach(async () => {
  await running?.stop();
  await bus?.drain();
  running = undefined;
  bus = undefined;
});

test("ConfigChange builds on create; an image change builds each follower once, pinned to that digest", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN mkdir -p /app && echo v1 > /app/version\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  bus = await Bus.connect({
    servers: infra.natsUrl,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    prefix: subjectPrefix,
    name: "triggers-test",
    logger,
  });
  const call = api(running);
  const runtime = (name: string, paused: boolean) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: {
        dockerfile: `FROM ${baseImage.ref}\nCOPY version /version\nCMD ["cat", "/version"]\n`,
        images: [
          {
            from: { kind: "ImageStreamTag", name: "app:latest" },
            paths: [{ sourcePath: "/app/version", destinationDir: "." }],
          },
        ],
      },
      strategy: { type: "Docker" },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
      triggers: [
        {
          type: "ImageChange",
          imageChange: { from: { kind: "ImageStreamTag", name: "app:latest" }, paused },
        },
      ],
    },
  });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
          triggers: [{ type: "ConfigChange" }],
        },
      },
      runtime("runtime", false),
      runtime("frozen", true),
    ],
  });
  expect(applied.status).toBe(200);

  // ConfigChange: the BuildConfig's creation started app-1, with that cause.
  const app = await waitForBuild(call, "app-1", finished);
  expect(app.status.phase).toBe("Complete");
  expect(app.spec.triggeredBy[0]).toMatchObject({ type: "ConfigChange" });
  // Applying the same document again is no creation: no second build.
  const reapplied = await call("POST", "/apis/v1/apply", {
    items: [(await call("GET", "/apis/v1/namespaces/default/buildconfigs/app")).json],
  });
  expect(reapplied.json.items[0].action).toBe("unchanged");

  // What the image-watcher publishes when app:latest moves to the digest app-1 pushed.
  const change = {
    v: 1 as const,
    namespace: "default",
    imageStream: "app",
    tag: "latest",
    digest: app.status.output.digest,
    imageReference: app.status.output.imageReference,
    cause: { type: "Build" as const, build: "app-1" },
    at: new Date().toISOString(),
  };
  const key = imageChangeKey("default", "app", "latest");
  await bus.publish("image.changed", key, change, { msgId: `default/app:latest@${change.digest}` });
  const built = await waitForBuild(call, "runtime-1", finished);
  expect(built.status.phase).toBe("Complete");
  expect(built.spec.triggeredBy[0]).toMatchObject({
    type: "ImageChange",
    image: app.status.output.imageReference,
  });
  // Pinned: the build copied out of exactly that digest, not whatever the tag points at later.
  expect(built.spec.source.images[0].from.name).toBe(app.status.output.imageReference);
  const bc = (await call("GET", "/apis/v1/namespaces/default/buildconfigs/runtime")).json;
  expect(bc.status.imageChangeTriggers).toEqual([
    { from: "default/app:latest", lastTriggeredImageID: change.digest },
  ]);

  // The same change again (a redelivery past the duplicate window looks like this): nothing new.
  await bus.publish("image.changed", key, change, { msgId: `again-${change.digest}` });
  await sleep(2000);
  const builds = (await call("GET", "/apis/v1/namespaces/default/builds")).json.items
    .map((b: any) => b.metadata.name)
    .sort();
  // A paused trigger never fired; app was built once (ConfigChange), runtime once.
  expect(builds).toEqual(["app-1", "runtime-1"]);
});
