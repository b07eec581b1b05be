// These tests check the STAND-IN Kubernetes API server of @kiln/testing (packages/testing/src/kube),
// not Kubernetes: no cluster can be had on the build machines, so Kiln's Kubernetes code is tested
// against that stand-in, and these tests hold it to the real API server's behaviour for the
// endpoints it serves, through the real @kubernetes/client-node over HTTP.
import { PassThrough } from "node:stream";
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  Log,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubernetesObject,
  type V1Deployment,
  type V1Job,
} from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import {
  enableRolloutController,
  podFromJob,
  RolloutBehaviour,
  StandInApiServer,
} from "@kiln/testing";

function deployment(
  name: string,
  namespace = "apps",
  containers = [{ name: "web", image: "registry.local/web:1" }],
): V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: name, tier: "front" } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

/** The Status body of a failed client-node call. */
function statusOf(error: unknown): { code: number; reason: string; message: string; kind: string } {
  const body = (error as { body?: unknown }).body;
  return (typeof body === "string" ? JSON.parse(body) : body) as {
    code: number;
    reason: string;
    message: string;
    kind: string;
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

function collect(): { stream: PassThrough; text: () => string; ended: Promise<void> } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const ended = new Promise<void>((resolve) => stream.on("end", () => resolve()));
  return { stream, text: () => text, ended };
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("stand-in Kubernetes API server (not Kubernetes)", () => {
  test("creates, gets and lists objects with resourceVersion, uid, generation and selectors", async () => {
    await using kube = await StandInApiServer.start();
    const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    const created = await apps.createNamespacedDeployment({
      namespace: "apps",
      body: deployment("web"),
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.generation).toBe(1);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("api") });
    await apps.createNamespacedDeployment({ namespace: "other", body: deployment("web", "other") });

    const exists = await rejection(
      apps.createNamespacedDeployment({ namespace: "apps", body: deployment("web") }),
    );
    expect(statusOf(exists)).toMatchObject({
      kind: "Status",
      code: 409,
      reason: "AlreadyExists",
      message: 'deployments.apps "web" already exists',
    });
    const missing = await rejection(
      apps.readNamespacedDeployment({ namespace: "apps", name: "nope" }),
    );
    expect(statusOf(missing)).toMatchObject({
      code: 404,
      reason: "NotFound",
      message: 'deployments.apps "nope" not found',
    });

    const byName = await apps.listNamespacedDeployment({
      namespace: "apps",
      fieldSelector: "metadata.name=api",
    });
    expect(byName.items.map((d) => d.metadata?.name)).toEqual(["api"]);
    const byLabel = await apps.listDeploymentForAllNamespaces({
      labelSelector: "app in (web),tier=front",
    });
    expect(byLabel.items.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`).sort()).toEqual(
      ["apps/web", "other/web"],
    );
    expect(Number(byLabel.metadata?.resourceVersion)).toBe(Number(kube.resourceVersion));
    const badField = await rejection(
      apps.listNamespacedDeployment({ namespace: "apps", fieldSelector: "spec.replicas=2" }),
    );
    expect(statusOf(badField)).toMatchObject({ code: 400, reason: "BadRequest" });
  });

  test("answers 409 Conflict to a replace with a stale resourceVersion, and bumps generation only on spec changes", async () => {
    await using kube = await StandInApiServer.start();
    const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    const v1 = await apps.createNamespacedDeployment({
      namespace: "apps",
      body: deployment("web"),
    });
    // Someone else writes in between (a controller writing status does not touch generation).
    kube.update("Deployment", "apps", "web", (d) => {
      d.status = { observedGeneration: 1, replicas: 2 };
    });
    const stale = { ...v1, spec: { ...v1.spec!, replicas: 3 } };
    const conflict = await rejection(
      apps.replaceNamespacedDeployment({ namespace: "apps", name: "web", body: stale }),
    );
    expect(statusOf(conflict)).toMatchObject({
      code: 409,
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    });

    const fresh = await apps.readNamespacedDeployment({ namespace: "apps", name: "web" });
    expect(fresh.metadata?.generation).toBe(1);
    const replaced = await apps.replaceNamespacedDeployment({
      namespace: "apps",
      name: "web",
      body: { ...fresh, spec: { ...fresh.spec!, replicas: 3 }, status: {} },
    });
    expect(replaced.metadata?.generation).toBe(2);
    // The status is a subresource: a write to the deployment keeps it.
    expect(replaced.status?.observedGeneration).toBe(1);
    // A write that changes nothing is no write: same resourceVersion.
    const again = await apps.replaceNamespacedDeployment({
      namespace: "apps",
      name: "web",
      body: replaced,
    });
    expect(again.metadata?.resourceVersion).toBe(replaced.metadata?.resourceVersion);
  });

  test("applies JSON patches (RFC 6902) and answers 422 when a test operation fails", async () => {
    await using kube = await StandInApiServer.start();
    const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("web") });
    const patched = await apps.patchNamespacedDeployment(
      {
        namespace: "apps",
        name: "web",
        body: [
          { op: "test", path: "/spec/template/spec/containers/0/name", value: "web" },
          {
            op: "replace",
            path: "/spec/template/spec/containers/0/image",
            value: "registry.local/web@sha256:aa",
          },
          { op: "add", path: "/metadata/annotations", value: { "a/b": "c" } },
        ],
      },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    expect(patched.spec?.template.spec?.containers[0]?.image).toBe("registry.local/web@sha256:aa");
    expect(patched.metadata?.annotations).toEqual({ "a/b": "c" });
    expect(patched.metadata?.generation).toBe(2);
    expect(kube.requests.at(-1)).toMatchObject({
      method: "PATCH",
      path: "/apis/apps/v1/namespaces/apps/deployments/web",
      contentType: "application/json-patch+json",
    });

    const failed = await rejection(
      apps.patchNamespacedDeployment(
        {
          namespace: "apps",
          name: "web",
          body: [
            { op: "test", path: "/spec/template/spec/containers/0/name", value: "api" },
            { op: "replace", path: "/spec/template/spec/containers/0/image", value: "x" },
          ],
        },
        setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
      ),
    );
    expect(statusOf(failed)).toMatchObject({ code: 422, reason: "Invalid" });
    expect(
      kube.get<V1Deployment>("Deployment", "apps", "web")?.spec?.template.spec?.containers[0]
        ?.image,
    ).toBe("registry.local/web@sha256:aa");

    const merged = await apps.patchNamespacedDeployment(
      {
        namespace: "apps",
        name: "web",
        body: { metadata: { annotations: { "a/b": null, "d/e": "f" } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.annotations).toEqual({ "d/e": "f" });
    expect(merged.metadata?.generation).toBe(2);
  });

  test("merges containers, env and volumes by name in a strategic merge patch, and 409s on a stale resourceVersion in it", async () => {
    await using kube = await StandInApiServer.start();
    const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    const created = await apps.createNamespacedDeployment({
      namespace: "apps",
      body: deployment("web", "apps", [
        { name: "sidecar", image: "registry.local/proxy:1" },
        {
          name: "web",
          image: "registry.local/web:1",
          env: [{ name: "A", value: "1" }],
          args: ["--a", "--b"],
        } as never,
      ]),
    });
    const patched = await apps.patchNamespacedDeployment(
      {
        namespace: "apps",
        name: "web",
        body: {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    name: "web",
                    image: "registry.local/web@sha256:bb",
                    env: [{ name: "B", value: "2" }],
                    args: ["--c"],
                  },
                ],
              },
            },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    const containers = patched.spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => [c.name, c.image])).toEqual([
      ["sidecar", "registry.local/proxy:1"],
      ["web", "registry.local/web@sha256:bb"],
    ]);
    expect(containers[1]?.env).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ]);
    // args has no merge key: replaced.
    expect(containers[1]?.args).toEqual(["--c"]);

    const stale = await rejection(
      apps.patchNamespacedDeployment(
        {
          namespace: "apps",
          name: "web",
          body: {
            metadata: { resourceVersion: created.metadata!.resourceVersion },
            spec: { replicas: 5 },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(statusOf(stale)).toMatchObject({ code: 409, reason: "Conflict" });
  });

  test("streams watch events from a resourceVersion, with bookmarks", async () => {
    await using kube = await StandInApiServer.start();
    const kc = kube.kubeConfig();
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("before") });
    const list = await apps.listNamespacedDeployment({ namespace: "apps" });
    const events: { type: string; name?: string; rv?: string }[] = [];
    const controller = await new Watch(kc).watch(
      "/apis/apps/v1/namespaces/apps/deployments",
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, object: KubernetesObject) =>
        events.push({ type, name: object.metadata?.name, rv: object.metadata?.resourceVersion }),
      () => undefined,
    );
    try {
      await until(() => kube.watchCount("Deployment") === 1);
      await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("web") });
      await apps.createNamespacedDeployment({
        namespace: "elsewhere",
        body: deployment("web", "elsewhere"),
      });
      await apps.deleteNamespacedDeployment({ namespace: "apps", name: "web" });
      kube.bookmark();
      await until(() => events.some((e) => e.type === "BOOKMARK"));
      expect(events.map((e) => `${e.type} ${e.name ?? ""}`)).toEqual([
        "ADDED web",
        "DELETED web",
        "BOOKMARK ",
      ]);
      expect(events.at(-1)?.rv).toBe(kube.resourceVersion);
      expect(Number(events[1]!.rv)).toBeGreaterThan(Number(events[0]!.rv));
    } finally {
      controller.abort();
    }
  });

  test("answers a watch from a compacted resourceVersion with ERROR 410 Expired, and an informer relists", async () => {
    await using kube = await StandInApiServer.start();
    const kc = kube.kubeConfig();
    const apps = kc.makeApiClient(AppsV1Api);
    const list = await apps.listNamespacedDeployment({ namespace: "apps" });
    await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("web") });
    kube.compact();
    const events: { type: string; object: { code?: number; reason?: string; kind?: string } }[] =
      [];
    const done = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(
        "/apis/apps/v1/namespaces/apps/deployments",
        { resourceVersion: list.metadata?.resourceVersion },
        (type, object) => events.push({ type, object }),
        resolve,
      );
    });
    expect(await done).toBeNull();
    expect(events).toEqual([
      {
        type: "ERROR",
        object: expect.objectContaining({ kind: "Status", code: 410, reason: "Expired" }),
      },
    ]);

    // client-node's informer: its watch falls behind a compaction, gets 410, lists again.
    const informer = makeInformer(kc, "/apis/apps/v1/namespaces/apps/deployments", () =>
      apps.listNamespacedDeployment({ namespace: "apps" }),
    );
    const seen: string[] = [];
    informer.on("add", (d) => seen.push(`add ${d.metadata?.name}`));
    await informer.start();
    try {
      await until(() => kube.watchCount("Deployment") === 1 && seen.includes("add web"));
      // A write the informer does not see (another namespace), a compaction past its version,
      // then its watch drops: it comes back with a resourceVersion the server no longer has.
      await apps.createNamespacedDeployment({ namespace: "other", body: deployment("x", "other") });
      kube.clearRequests();
      kube.compact();
      kube.dropWatches();
      kube.create(deployment("api"));
      await until(() => seen.includes("add api"));
      const isList = (r: { path: string; query: Record<string, string> }) =>
        r.path === "/apis/apps/v1/namespaces/apps/deployments" && r.query.watch === undefined;
      expect(kube.requests.filter(isList)).toHaveLength(1);
    } finally {
      await informer.stop();
    }
  });

  test("deletes a Job's pods with it (Background), and orphans them by default, as batch/v1 does", async () => {
    await using kube = await StandInApiServer.start();
    const kc = kube.kubeConfig();
    const batch = kc.makeApiClient(BatchV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    // The Job controller is the test: it makes the pod when the Job is created.
    kube.onCreate("Job", (job) => void kube.create(podFromJob(job)));
    const job: V1Job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "build-1" },
      spec: {
        template: {
          metadata: { labels: { "kiln.dev/build": "b1" } },
          spec: { restartPolicy: "Never", containers: [{ name: "build", image: "buildah" }] },
        },
      },
    };
    await batch.createNamespacedJob({ namespace: "builds", body: job });
    await until(() => kube.list("Pod", "builds").length === 1);
    const pods = await core.listNamespacedPod({
      namespace: "builds",
      labelSelector: "job-name=build-1",
    });
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(["build-1-x7k2p"]);

    await batch.deleteNamespacedJob({
      namespace: "builds",
      name: "build-1",
      propagationPolicy: "Background",
    });
    expect(kube.list("Pod", "builds")).toEqual([]);
    expect(kube.get("Job", "builds", "build-1")).toBeUndefined();

    await batch.createNamespacedJob({
      namespace: "builds",
      body: { ...job, metadata: { name: "build-2" } },
    });
    await until(() => kube.list("Pod", "builds").length === 1);
    await batch.deleteNamespacedJob({ namespace: "builds", name: "build-2" });
    const orphan = kube.list("Pod", "builds");
    expect(orphan).toHaveLength(1);
    expect(orphan[0]!.metadata.ownerReferences).toEqual([]);
    expect(kube.hookErrors).toEqual([]);
  });

  test("follows a container's log until it ends, with timestamps, and refuses a waiting container", async () => {
    await using kube = await StandInApiServer.start();
    const kc = kube.kubeConfig();
    kube.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "build-1-pod", namespace: "builds" },
      spec: {
        initContainers: [{ name: "fetch" }],
        containers: [{ name: "build" }, { name: "proxy" }],
      },
      status: {
        phase: "Pending",
        containerStatuses: [{ name: "build", state: { waiting: { reason: "PodInitializing" } } }],
      },
    });
    const waiting = await rejection(
      new Log(kc).log("builds", "build-1-pod", "build", new PassThrough(), { follow: true }),
    );
    expect((waiting as { code?: number }).code).toBe(400);

    kube.update("Pod", "builds", "build-1-pod", (p) => {
      p.status = {
        phase: "Running",
        containerStatuses: [{ name: "build", state: { running: {} } }],
      };
    });
    kube.appendPodLog(
      "builds",
      "build-1-pod",
      "build",
      ["STEP 1/2: FROM busybox"],
      new Date("2024-05-01T10:00:00.123Z"),
    );
    const followed = collect();
    const controller = await new Log(kc).log("builds", "build-1-pod", "build", followed.stream, {
      follow: true,
      timestamps: true,
    });
    await until(() => followed.text().includes("STEP 1/2"));
    kube.appendPodLog("builds", "build-1-pod", "build", ["STEP 2/2: RUN make", "done"]);
    await until(() => followed.text().includes("done"));
    kube.endPodLog("builds", "build-1-pod", "build");
    await followed.ended;
    const lines = followed.text().trimEnd().split("\n");
    expect(lines[0]).toBe("2024-05-01T10:00:00.123000000Z STEP 1/2: FROM busybox");
    expect(lines.slice(1).map((l) => l.replace(/^\S+ /, ""))).toEqual([
      "STEP 2/2: RUN make",
      "done",
    ]);
    controller.abort();

    const plain = collect();
    await new Log(kc).log("builds", "build-1-pod", "build", plain.stream, { tailLines: 1 });
    await plain.ended;
    expect(plain.text()).toBe("done\n");
    const log = kube.requests.find(
      (r) => r.path.endsWith("/log") && r.query.follow === "true" && r.query.timestamps === "true",
    );
    expect(log?.query.container).toBe("build");
  });

  test("injects faults, checks a bearer token, and runs a rollout controller", async () => {
    await using kube = await StandInApiServer.start({ token: "s3cret-token" });
    const kc = kube.kubeConfig();
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("web") });
    kube.failNext({
      method: "GET",
      path: "/apis/apps/v1/namespaces/apps/deployments/web",
      status: 500,
    });
    const injected = await rejection(
      apps.readNamespacedDeployment({ namespace: "apps", name: "web" }),
    );
    expect(statusOf(injected)).toMatchObject({ code: 500, reason: "InternalError" });
    expect(
      (await apps.readNamespacedDeployment({ namespace: "apps", name: "web" })).metadata?.name,
    ).toBe("web");

    const res = await fetch(`${kube.url}/apis/apps/v1/namespaces/apps/deployments/web`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });

    const stop = enableRolloutController(kube, {
      behaviour: (d) =>
        d.metadata.name === "stuck" ? RolloutBehaviour.NeverAvailable : RolloutBehaviour.Available,
    });
    try {
      await apps.patchNamespacedDeployment(
        {
          namespace: "apps",
          name: "web",
          body: {
            spec: {
              template: {
                spec: { containers: [{ name: "web", image: "registry.local/web@sha256:cc" }] },
              },
            },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      );
      await apps.createNamespacedDeployment({ namespace: "apps", body: deployment("stuck") });
      await until(
        () =>
          kube.get("Deployment", "apps", "stuck")?.status !== undefined &&
          (kube.get<V1Deployment>("Deployment", "apps", "stuck")?.status?.observedGeneration ??
            0) === 1,
      );
      await until(
        () => kube.get<V1Deployment>("Deployment", "apps", "web")?.status?.observedGeneration === 2,
      );
      const web = await apps.readNamespacedDeployment({ namespace: "apps", name: "web" });
      expect(web.status).toMatchObject({
        observedGeneration: 2,
        replicas: 2,
        updatedReplicas: 2,
        availableReplicas: 2,
        readyReplicas: 2,
      });
      const stuck = await apps.readNamespacedDeployment({ namespace: "apps", name: "stuck" });
      expect(stuck.status).toMatchObject({
        observedGeneration: 1,
        updatedReplicas: 2,
        availableReplicas: 0,
      });
    } finally {
      stop();
    }
  });
});
