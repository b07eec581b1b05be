import { createHmac, randomUUID } from "node:crypto";
import { afterEach, expect } from "vitest";
import {
  buildS2IBuilderImage,
  integrationTest as test,
  makeGitRepo,
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
import { runImage } from "../support/images.js";

const secret = "chain-secret-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
let relay: NotificationRelay | undefined;
afterEach(async () => {
  relay?.forwardTo(undefined);
  await running?.stop();
  running = undefined;
});

/** A builder whose assemble "compiles" the app: copies it and stamps the builder's version in. */
function builderScripts(version: string) {
  return {
    assemble: `#!/bin/sh\nset -e\nmkdir -p /opt/app-root/bin\ncp /tmp/src/app.sh /opt/app-root/bin/app\necho "echo built-with-${version}" >> /opt/app-root/bin/app\nchmod +x /opt/app-root/bin/app\n`,
    run: `#!/bin/sh\nexec /opt/app-root/bin/app\n`,
  };
}

test("a signed push builds S2I, the registry's notification chains a runtime build, and a new builder rebuilds both once", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const registry = infra.registry.address;
  const builderRef = `${registry}/default/builder:latest`;
  await buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: builderRef,
    scripts: builderScripts("builder-v1"),
  });
  await using repo = await makeGitRepo({ "app.sh": "#!/bin/sh\necho hello-from-the-chain\n" });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "webhook-receiver", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken },
  });
  // The worker registry's own notifications go to the image-watcher, as under `kiln up`; but
  // not the one of the builder pushed above (the registry sends it when it likes, and a late one
  // would rebuild app from builder-v1 under this test's feet).
  relay = infra.notifications;
  await relay.waitForEvent(
    (e) =>
      e.action === "push" && e.target.repository === "default/builder" && e.target.tag === "latest",
    30_000,
  );
  relay.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: {
            type: "Source",
            sourceStrategy: { from: { kind: "ImageStreamTag", name: "builder:latest" } },
          },
          output: { to: { kind: "ImageStreamTag", name: "app-s2i:latest" } },
          // ImageChange without `from`: follows the builder, as in OpenShift.
          triggers: [{ type: "GitHub", github: { secret } }, { type: "ImageChange" }],
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "runtime" },
        spec: {
          source: {
            dockerfile: `FROM ${baseImage.ref}\nCOPY app /app\nCMD ["/app"]\n`,
            images: [
              {
                from: { kind: "ImageStreamTag", name: "app-s2i:latest" },
                paths: [{ sourcePath: "/opt/app-root/bin/app", destinationDir: "." }],
              },
            ],
          },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
          triggers: [
            {
              type: "ImageChange",
              imageChange: { from: { kind: "ImageStreamTag", name: "app-s2i:latest" } },
            },
          ],
        },
      },
    ],
  });
  expect(applied.status).toBe(200);

  // GitHub's push for the repository's commit.
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: repo.commit,
    head_commit: { id: repo.commit, message: "initial" },
    repository: { default_branch: "main" },
  });
  const hook = await fetch(`${running.webhookUrl}/hooks/default/app/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
    },
    body,
  });
  expect(hook.status).toBe(202);

  const s2i = await waitForBuild(call, "app-1", finished, 150_000);
  expect(s2i.status.phase).toBe("Complete");
  expect(s2i.spec.revision.commit).toBe(repo.commit);
  // app-s2i:latest moved → the runtime build copies the binary out of exactly that image.
  const runtime = await waitForBuild(call, "runtime-1", finished, 150_000);
  expect(runtime.status.phase).toBe("Complete");
  expect(runtime.spec.source.images[0].from.name).toBe(s2i.status.output.imageReference);
  expect(await runImage(baseImage, runtime.status.output.imageReference)).toBe(
    "hello-from-the-chain\nbuilt-with-builder-v1",
  );

  // A security fix of the builder: pushing it to the registry rebuilds both stages, once each.
  await buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: builderRef,
    scripts: builderScripts("builder-v2"),
  });
  const s2i2 = await waitForBuild(call, "app-2", finished, 150_000);
  expect(s2i2.status.phase).toBe("Complete");
  expect(s2i2.spec.triggeredBy[0]).toMatchObject({ type: "ImageChange" });
  const runtime2 = await waitForBuild(call, "runtime-2", finished, 150_000);
  expect(runtime2.status.phase).toBe("Complete");
  expect(await runImage(baseImage, runtime2.status.output.imageReference)).toBe(
    "hello-from-the-chain\nbuilt-with-builder-v2",
  );
  await sleep(3000);
  const names = (await call("GET", "/apis/v1/namespaces/default/builds")).json.items
    .map((b: { metadata: { name: string } }) => b.metadata.name)
    .sort();
  expect(names).toEqual(["app-1", "app-2", "runtime-1", "runtime-2"]);
});
