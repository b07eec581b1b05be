import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import {
  integrationTest as test,
  registryNotificationToken,
  type NotificationRelay,
} from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
let relay: NotificationRelay | undefined;
afterEach(async () => {
  relay?.forwardTo(undefined);
  await running?.stop();
  running = undefined;
});

/** A Docker build FROM the `base:latest` ImageStreamTag that takes `seconds`, pushing to `output`. */
function stage(name: string, seconds: number, output: string) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: {
        dockerfile: `FROM replaced-by-strategy-from\nRUN sleep ${seconds} && echo ${name} > /${name}\n`,
      },
      strategy: {
        type: "Docker",
        dockerStrategy: { from: { kind: "ImageStreamTag", name: "base:latest" } },
      },
      output: { to: { kind: "ImageStreamTag", name: output } },
      // No `from`: follows the strategy's base, as in OpenShift.
      triggers: [{ type: "ImageChange" }],
    },
  };
}

test("a base image change rebuilds a diamond once per BuildConfig, the join after both of its inputs", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const registry = infra.registry.address;
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
    extraEnv: {
      IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken,
      BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "2",
    },
  });
  relay = infra.notifications;
  relay.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      stage("left", 1, "left:latest"),
      stage("right", 4, "right:latest"),
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "join" },
        spec: {
          source: { dockerfile: `FROM ${baseImage.ref}\nRUN echo joined\n` },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "join:latest" } },
          triggers: [
            {
              type: "ImageChange",
              imageChange: { from: { kind: "ImageStreamTag", name: "left:latest" } },
            },
            {
              type: "ImageChange",
              imageChange: { from: { kind: "ImageStreamTag", name: "right:latest" } },
            },
          ],
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  const impact = (await call("GET", "/apis/v1/buildgraph?impact=default/base:latest")).json.impact;
  expect(impact).toEqual(["default/left", "default/right", "default/join"]);

  // The base image gets a security fix: it is pushed to the registry, which notifies Kiln.
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--authfile",
    infra.registry.authFile,
    `docker://${baseImage.ref}`,
    `docker://${registry}/default/base:latest`,
  ]);

  const [left, right] = [
    await waitForBuild(call, "left-1", finished, 120_000),
    await waitForBuild(call, "right-1", finished, 120_000),
  ];
  expect([left.status.phase, right.status.phase]).toEqual(["Complete", "Complete"]);
  const join = await waitForBuild(call, "join-1", finished, 120_000);
  expect(join.status.phase).toBe("Complete");
  // Once, after both inputs were current, with both pinned.
  expect(Date.parse(join.status.startTimestamp)).toBeGreaterThanOrEqual(
    Date.parse(right.status.completionTimestamp),
  );
  expect(join.spec.triggeredBy[0].message).toContain("default/left:latest");
  expect(join.spec.triggeredBy[0].message).toContain("default/right:latest");
  await sleep(4000);
  const names = (await call("GET", "/apis/v1/namespaces/default/builds")).json.items
    .map((b: { metadata: { name: string } }) => b.metadata.name)
    .sort();
  expect(names).toEqual(["join-1", "left-1", "right-1"]);
});
