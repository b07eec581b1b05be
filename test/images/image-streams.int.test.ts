import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterEach, expect } from "vitest";
import { Bus, type EventPayload } from "@kiln/bus";
import {
  integrationTest as test,
  makeGitRepo,
  registryNotificationToken,
  type WorkerInfra,
} from "@kiln/testing";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { kiln } from "../support/cli.js";

const exec = promisify(execFile);

/** skopeo within the worker registry (plain HTTP, Kiln's account); `--format v2s2` rewrites the manifest, so the digest changes. */
async function copyImage(infra: WorkerInfra, from: string, to: string, extra: string[] = []) {
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--authfile",
    infra.registry.authFile,
    ...extra,
    `docker://${from}`,
    `docker://${to}`,
  ]);
}

async function headDigest(infra: WorkerInfra, repo: string, tag: string): Promise<string> {
  const res = await fetch(`${infra.registry.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return res.headers.get("docker-content-digest")!;
}

type TagItem = {
  created: string;
  dockerImageReference: string;
  image: string;
  generation: number;
  cause: string;
  build?: string;
};

async function tagItems(
  call: ReturnType<typeof api>,
  stream: string,
  tag: string,
): Promise<TagItem[]> {
  const res = await call("GET", `/apis/v1/namespaces/default/imagestreams/${stream}`);
  if (res.status !== 200) return [];
  return (
    (res.json.status.tags as { tag: string; items: TagItem[] }[]).find((t) => t.tag === tag)
      ?.items ?? []
  );
}

async function waitForItems(
  call: ReturnType<typeof api>,
  stream: string,
  tag: string,
  count: number,
  timeoutMs = 30_000,
): Promise<TagItem[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = await tagItems(call, stream, tag);
    if (items.length >= count) return items;
    if (Date.now() > deadline)
      throw new Error(
        `${stream}:${tag} has ${items.length} items after ${timeoutMs} ms, want ${count}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let running: RunningKiln | undefined;
let bus: Bus | undefined;
let relayUsed: WorkerInfra["notifications"] | undefined;
afterEach(async () => {
  relayUsed?.clear();
  relayUsed = undefined;
  await bus?.drain();
  bus = undefined;
  await running?.stop();
  running = undefined;
});

async function listen(infra: WorkerInfra, subjectPrefix: string) {
  bus = await Bus.connect({
    servers: infra.natsUrl,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    prefix: subjectPrefix,
    name: "image-streams-test",
    logger: pino({ level: "silent" }),
  });
  const events: EventPayload<"image.changed">[] = [];
  bus.listen("image.changed", (e) => events.push(e));
  return events;
}

test("a build with an ImageStreamTag output records the tag with its digest and build, and the same digest again adds nothing", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo stream > /s.txt\n`,
  });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken },
  });
  const events = await listen(infra, subjectPrefix);
  const call = api(running);
  // As under `kiln up`, the registry also notifies the build's push, which may arrive before the
  // build's Complete: the one item must still end up naming the build.
  relayUsed = infra.notifications;
  infra.notifications.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);
  const bc = {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "app" },
    spec: {
      source: { git: { uri: repo.url, ref: "main" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
    },
  };
  expect((await call("POST", "/apis/v1/apply", { items: [bc] })).status).toBe(200);
  expect(
    (await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {})).status,
  ).toBe(201);
  const build = await waitForBuild(call, "app-1", (p) => p === "Complete");
  const { digest, imageReference } = build.status.output;

  await waitForItems(call, "app", "latest", 1);
  const deadline = Date.now() + 10_000;
  while ((await tagItems(call, "app", "latest"))[0]?.cause !== "Build" && Date.now() < deadline)
    await sleep(200);
  const [item, ...older] = await tagItems(call, "app", "latest");
  expect(older).toEqual([]);
  expect(item).toMatchObject({
    image: digest,
    dockerImageReference: imageReference,
    cause: "Build",
    build: "app-1",
  });
  const is = (await call("GET", "/apis/v1/namespaces/default/imagestreams/app")).json;
  expect(is.status.dockerImageRepository).toBe(`${infra.registry.address}/default/app`);

  const described = await kiln(running.cliEnv, "describe", "is", "app");
  expect(described.code).toBe(0);
  expect(described.stdout).toContain(imageReference);
  expect(described.stdout).toContain("build app-1");
  const listed = await kiln(running.cliEnv, "get", "is");
  expect(listed.stdout).toMatch(/^app\s+\S+\/default\/app\s+latest\s/m);

  // The same digest once more (a second build of identical content, or a redelivered status) is no change.
  await bus!.publish(
    "build.status-changed",
    "another-build",
    {
      ...build.status,
      v: 1,
      buildId: "another-build",
      namespace: "default",
      name: "app-2",
      phase: "Complete",
      attempt: 1,
      at: new Date().toISOString(),
      output: build.status.output,
    },
    { msgId: "another-build:Complete:1" },
  );
  await sleep(1_500);
  expect(await tagItems(call, "app", "latest")).toHaveLength(1);
  expect(events.filter((e) => e.imageStream === "app")).toHaveLength(1);
  expect(events[0]).toMatchObject({
    namespace: "default",
    imageStream: "app",
    tag: "latest",
    digest,
  });
});

test("the registry's own notification of a push records a RegistryPush item once, publishes image.changed once, and a pull changes nothing; kiln tag copies it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken },
  });
  const events = await listen(infra, subjectPrefix);
  const call = api(running);
  relayUsed = infra.notifications;
  infra.notifications.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);

  await copyImage(infra, baseImage.ref, `${infra.registry.address}/default/pushed:v1`);
  const digest = await headDigest(infra, "default/pushed", "v1");
  const [item] = await waitForItems(call, "pushed", "v1", 1);
  expect(item).toMatchObject({
    image: digest,
    dockerImageReference: `${infra.registry.address}/default/pushed@${digest}`,
    cause: "RegistryPush",
  });
  await sleep(500);
  expect(events.filter((e) => e.imageStream === "pushed")).toEqual([
    expect.objectContaining({
      tag: "v1",
      digest,
      cause: expect.objectContaining({ type: "RegistryPush" }),
    }),
  ]);

  // The same notification delivered again: its event id was seen, nothing more happens.
  const pushed = infra.notifications.received.find((n) =>
    n.body.events?.some(
      (e) =>
        e.action === "push" && e.target.repository === "default/pushed" && e.target.tag === "v1",
    ),
  );
  expect(pushed).toBeDefined();
  const again = await fetch(`${running.imageWatcherUrl}/registry/notifications`, {
    method: "POST",
    headers: {
      "content-type": String(pushed!.headers["content-type"]),
      authorization: `Bearer ${registryNotificationToken}`,
    },
    body: JSON.stringify(pushed!.body),
  });
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ duplicates: 1, recorded: 0 });
  // Without the token: refused.
  const anonymous = await fetch(`${running.imageWatcherUrl}/registry/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(pushed!.body),
  });
  expect(anonymous.status).toBe(401);

  // A pull is seen by the watcher and ignored.
  await exec("skopeo", [
    "inspect",
    "--tls-verify=false",
    "--authfile",
    infra.registry.authFile,
    `docker://${infra.registry.address}/default/pushed:v1`,
  ]);
  await infra.notifications.waitForEvent(
    (e) => e.action === "pull" && e.target.repository === "default/pushed",
  );
  await sleep(500);
  expect(await tagItems(call, "pushed", "v1")).toHaveLength(1);
  expect(events.filter((e) => e.imageStream === "pushed")).toHaveLength(1);

  // kiln tag pushed:v1 pushed:prod records the same image under prod (cause Tag); again: unchanged.
  const tagged = await kiln(running.cliEnv, "tag", "pushed:v1", "pushed:prod");
  expect(tagged.stderr).toBe("");
  expect(tagged.stdout).toContain(
    `Tag pushed:prod set to ${infra.registry.address}/default/pushed@${digest}`,
  );
  expect(await tagItems(call, "pushed", "prod")).toEqual([
    expect.objectContaining({ image: digest, cause: "Tag" }),
  ]);
  expect((await kiln(running.cliEnv, "tag", "pushed:v1", "pushed:prod")).stdout).toContain(
    "already at",
  );
  expect((await kiln(running.cliEnv, "tag", "pushed:nope", "pushed:prod")).code).not.toBe(0);
  await sleep(300);
  expect(
    events.filter((e) => e.imageStream === "pushed").map((e) => `${e.tag}:${e.cause.type}`),
  ).toEqual(["v1:RegistryPush", "prod:Tag"]);
});

test("a scheduled tag follows an image pushed to a registry that sends no notification", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_IMPORT_INTERVAL_MS: "300" },
  });
  const events = await listen(infra, subjectPrefix);
  const call = api(running);
  const upstream = `${infra.registry.address}/ext-${subjectPrefix}/upstream:stable`;
  const is = {
    apiVersion: "kiln.dev/v1",
    kind: "ImageStream",
    metadata: { name: "mirror" },
    spec: {
      tags: [
        {
          name: "stable",
          from: { kind: "DockerImage", name: upstream },
          importPolicy: { scheduled: true, insecure: true },
        },
      ],
    },
  };
  expect((await call("POST", "/apis/v1/apply", { items: [is] })).status).toBe(200);
  await sleep(1_000);
  expect(await tagItems(call, "mirror", "stable")).toEqual([]); // nothing there yet: a 404, no item

  await copyImage(infra, baseImage.ref, upstream);
  const first = await headDigest(infra, `ext-${subjectPrefix}/upstream`, "stable");
  const [item] = await waitForItems(call, "mirror", "stable", 1, 10_000);
  expect(item).toMatchObject({
    image: first,
    cause: "Import",
    dockerImageReference: `${infra.registry.address}/ext-${subjectPrefix}/upstream@${first}`,
  });

  // A different manifest under the same tag (Docker v2 instead of buildah's OCI): a new digest, followed.
  await copyImage(infra, baseImage.ref, upstream, ["--format", "v2s2"]);
  const second = await headDigest(infra, `ext-${subjectPrefix}/upstream`, "stable");
  expect(second).not.toBe(first);
  const items = await waitForItems(call, "mirror", "stable", 2, 10_000);
  expect(items.map((i) => i.image)).toEqual([second, first]);
  await sleep(1_000);
  expect(await tagItems(call, "mirror", "stable")).toHaveLength(2);
  expect(events.filter((e) => e.imageStream === "mirror").map((e) => e.digest)).toEqual([
    first,
    second,
  ]);
});

test("Harbor, Docker Hub and Quay notifications are read on their own routes; bad ones get a clear status and change nothing", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "image-watcher"],
    extraEnv: { IMAGE_WATCHER_NOTIFICATION_TOKEN: registryNotificationToken },
  });
  const call = api(running);
  const post = (
    path: string,
    body: string,
    contentType = "application/json",
    token: string | null = registryNotificationToken,
  ) =>
    fetch(`${running!.imageWatcherUrl}${path}`, {
      method: "POST",
      headers: {
        "content-type": contentType,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body,
    });
  const registry = infra.registry.address;
  await copyImage(infra, baseImage.ref, `${registry}/default/harb:v1`);
  const digest = await headDigest(infra, "default/harb", "v1");
  const harbor = {
    specversion: "1.0",
    id: `ce-${subjectPrefix}`,
    type: "harbor.artifact.pushed",
    data: {
      resources: [{ digest, tag: "v1", resource_url: `${registry}/default/harb:v1` }],
      repository: { repo_full_name: "default/harb", name: "harb", namespace: "default" },
    },
  };
  const answer = await post("/registry/notifications/harbor", JSON.stringify(harbor));
  expect(answer.status).toBe(200);
  expect(await answer.json()).toMatchObject({ hints: 1, recorded: 1, changed: 1 });
  expect(await tagItems(call, "harb", "v1")).toEqual([
    expect.objectContaining({ image: digest, cause: "RegistryPush" }),
  ]);
  expect(
    await (await post("/registry/notifications/harbor", JSON.stringify(harbor))).json(),
  ).toMatchObject({ duplicates: 1 });

  // Quay and Docker Hub pushes of images nothing follows: read, and nothing recorded.
  expect(
    await (
      await post(
        "/registry/notifications/quay",
        JSON.stringify({
          repository: "org/x",
          docker_url: "quay.io/org/x",
          updated_tags: ["latest"],
        }),
      )
    ).json(),
  ).toMatchObject({ hints: 1, recorded: 0 });
  expect(
    await (
      await post(
        "/registry/notifications/dockerhub?token=" + registryNotificationToken,
        JSON.stringify({
          push_data: { tag: "latest", pushed_at: 1 },
          repository: { repo_name: "org/x" },
        }),
        "application/json",
        null,
      )
    ).json(),
  ).toMatchObject({ hints: 1, recorded: 0 });

  expect(
    (
      await post(
        "/registry/notifications",
        "{not json",
        "application/vnd.docker.distribution.events.v1+json",
      )
    ).status,
  ).toBe(400);
  expect((await post("/registry/notifications", "{}", "text/plain")).status).toBe(400);
  expect((await post("/registry/notifications/gitlab", "{}")).status).toBe(404);
  expect(
    (
      await post(
        "/registry/notifications/harbor",
        JSON.stringify(harbor),
        "application/json",
        "wrong",
      )
    ).status,
  ).toBe(401);
  expect((await post("/registry/notifications", "x".repeat(2 * 1024 * 1024))).status).toBe(413);
  expect(await tagItems(call, "harb", "v1")).toHaveLength(1);
});
