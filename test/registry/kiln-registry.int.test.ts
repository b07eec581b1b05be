import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import {
  buildahArgs,
  integrationTest as test,
  registryNotificationToken,
  type WorkerInfra,
} from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { inImage } from "../support/images.js";

/*
 * Kiln's own registry (the worker's, started as `kiln up` starts it) wants Kiln's account for
 * everything. Here from the side of another local user who would move a tag that an
 * ImageStream follows, and of a Kiln whose services were given a wrong password.
 */

const exec = promisify(execFile);
const accept =
  "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

let running: RunningKiln | undefined;
let relay: WorkerInfra["notifications"] | undefined;
afterEach(async () => {
  relay?.clear();
  relay?.forwardTo(undefined);
  relay = undefined;
  await running?.stop();
  running = undefined;
});

function dockerBuildConfig(name: string, dockerfile: string) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { dockerfile },
      strategy: { type: "Docker" },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

async function tagDigests(call: ReturnType<typeof api>, stream: string): Promise<string[]> {
  const res = await call("GET", `/apis/v1/namespaces/default/imagestreams/${stream}`);
  if (res.status !== 200) return [];
  const tags = res.json.status.tags as { tag: string; items: { image: string }[] }[];
  return tags.find((t) => t.tag === "latest")?.items.map((i) => i.image) ?? [];
}

/** Every service log and the build logs, to look for a secret in. */
async function everyLog(kiln: RunningKiln, builds: string[]): Promise<string[]> {
  const call = api(kiln);
  return [
    ...(await Promise.all(
      (await readdir(kiln.logsDir)).map((f) => readFile(join(kiln.logsDir, f), "utf8")),
    )),
    ...(await Promise.all(
      builds.map(
        async (b) => (await call("GET", `/apis/v1/namespaces/default/builds/${b}/log`)).text,
      ),
    )),
  ];
}

test("a build pushes to Kiln's registry as Kiln and pulls back with the account only; another user's push cannot move its tag, and the ImageStream does not follow", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const registry = infra.registry;
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken },
  });
  relay = infra.notifications;
  relay.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [dockerBuildConfig("app", `FROM ${baseImage.ref}\nRUN echo kiln > /made-by.txt\n`)],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  const build = await waitForBuild(call, "app-1", finished);
  const log = (await call("GET", "/apis/v1/namespaces/default/builds/app-1/log")).text;
  expect(build.status.phase, log).toBe("Complete");
  const digest = build.status.output.digest as string;
  await expect.poll(() => tagDigests(call, "app"), { timeout: 10_000 }).toEqual([digest]);

  // The image pulls with the account, and runs; without it, the registry says 401.
  await inImage(baseImage, build.status.output.imageReference, async (run) => {
    expect((await run("cat", "/made-by.txt")).trim()).toBe("kiln");
  });
  const manifestUrl = `${registry.url}/v2/default/app/manifests/latest`;
  expect((await fetch(manifestUrl, { headers: { accept } })).status).toBe(401);

  // Another local user pushes their image over the tag: without credentials, with a guess.
  const pushesBefore = relay.received.length;
  for (const creds of [[], ["--creds", "kiln:guessed-password"]]) {
    const pushed = await exec("buildah", [
      ...buildahArgs(baseImage.storageDir),
      "push",
      "--tls-verify=false",
      ...creds,
      baseImage.ref,
      `docker://${registry.address}/default/app:latest`,
    ]).then(
      () => null,
      (e: { stderr: string }) => e.stderr,
    );
    expect(pushed).toMatch(
      new RegExp(`${registry.address}/default/app: unauthorized: authentication required`),
    );
  }
  const baseManifest = await fetch(`${registry.url}/v2/base/busybox/manifests/latest`, {
    headers: { authorization: registry.authorization, accept },
  });
  const body = Buffer.from(await baseManifest.arrayBuffer());
  const guessed = { authorization: `Basic ${btoa("kiln:guessed-password")}` };
  for (const headers of [{}, guessed] as Record<string, string>[]) {
    const upload = await fetch(`${registry.url}/v2/default/app/blobs/uploads/`, {
      method: "POST",
      headers,
    });
    expect(upload.status).toBe(401);
    const put = await fetch(manifestUrl, {
      method: "PUT",
      headers: { ...headers, "content-type": baseManifest.headers.get("content-type")! },
      body,
    });
    expect(put.status).toBe(401);
  }

  // The tag still holds the build's image, the ImageStream still the build's digest only.
  const head = await fetch(manifestUrl, {
    method: "HEAD",
    headers: { authorization: registry.authorization, accept },
  });
  expect(head.headers.get("docker-content-digest")).toBe(digest);
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await tagDigests(call, "app")).toEqual([digest]);
  const refusedPushes = relay.received
    .slice(pushesBefore)
    .flatMap((n) => n.body.events ?? [])
    .filter((e) => e.action === "push" && e.target.repository === "default/app");
  expect(refusedPushes).toEqual([]);

  // The account never shows in a log.
  for (const text of await everyLog(running, ["app-1"])) {
    expect(text).not.toContain(registry.credentials.password);
    expect(text).not.toContain(registry.authorization.replace("Basic ", ""));
  }
});

test("a runner and an image-watcher given a wrong password say so naming the registry, keep running, and the build fails PushFailed with buildah's unauthorized in its log", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const registry = infra.registry;
  const wrong = "wrong-pw-5e0c2b1a-never-shown";
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
    extraEnv: {
      IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken,
      KILN_REGISTRY_PASSWORD: wrong,
    },
  });
  const call = api(running);
  // FROM scratch: nothing to pull from Kiln's registry, so the push is what meets the password.
  const applied = await call("POST", "/apis/v1/apply", {
    items: [dockerBuildConfig("refused", "FROM scratch\nLABEL kiln.test=wrong-password\n")],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/refused/instantiate", {});
  const build = await waitForBuild(call, "refused-1", finished);
  expect(build.status).toMatchObject({ phase: "Failed", reason: "PushFailed" });
  expect(build.status.message).toMatch(
    // buildah's reason, then its exit code.
    new RegExp(
      `^pushing ${registry.address}/default/refused:latest failed: .*unauthorized: authentication required \\(exit \\d+\\)$`,
    ),
  );
  const log = (await call("GET", "/apis/v1/namespaces/default/builds/refused-1/log")).text;
  expect(log).toContain(
    `${registry.address}/default/refused: unauthorized: authentication required`,
  );

  // The image-watcher cannot read a pushed tag with it: it answers the registry 502, saying why.
  relay = infra.notifications;
  relay.forwardTo(undefined);
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--authfile",
    registry.authFile,
    `docker://${baseImage.ref}`,
    `docker://${registry.address}/default/seen:v1`,
  ]);
  await relay.waitForEvent(
    (e) => e.action === "push" && e.target.repository === "default/seen" && e.target.tag === "v1",
  );
  const notification = relay.received.find((n) =>
    n.body.events?.some(
      (e) => e.action === "push" && e.target.repository === "default/seen" && e.target.tag === "v1",
    ),
  )!;
  const answer = await fetch(`${running.imageWatcherUrl}/registry/notifications`, {
    method: "POST",
    headers: {
      "content-type": String(notification.headers["content-type"]),
      authorization: `Bearer ${registryNotificationToken}`,
    },
    body: JSON.stringify(notification.body),
  });
  expect(answer.status).toBe(502);
  expect(((await answer.json()) as { message: string }).message).toBe(
    `${registry.address}/default/seen:v1: unauthorized: the registry refused these credentials (401)`,
  );

  // Both said so once at start, naming the registry; neither exited (a restart fixes nothing).
  const serviceLog = (name: string) => readFile(join(running!.logsDir, `${name}.log`), "utf8");
  const refusedLine = (text: string, msg: string) =>
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; registry?: string; level: number })
      .find((l) => l.msg === msg);
  expect(
    refusedLine(
      await serviceLog("build-runner"),
      "kiln registry refused this runner's account: builds cannot push there",
    ),
  ).toMatchObject({ registry: registry.address, level: 50 });
  expect(
    refusedLine(
      await serviceLog("image-watcher"),
      "kiln registry refused the image-watcher's account: it cannot follow pushes there",
    ),
  ).toMatchObject({ registry: registry.address, level: 50 });
  for (const name of ["build-runner", "image-watcher"] as const)
    expect(running.processes.get(name)?.running, name).toBe(true);

  // No password, wrong or right, in any log or answer.
  for (const text of await everyLog(running, ["refused-1"])) {
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(registry.credentials.password);
  }
  expect(JSON.stringify(build)).not.toContain(wrong);
});
