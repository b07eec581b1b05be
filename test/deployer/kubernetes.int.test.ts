// The deployer against real NATS and Postgres and a STAND-IN Kubernetes API server
// (StandInApiServer of @kiln/testing): not Kubernetes. No cluster can be had on the build
// machines, so the workloads, their rollouts and the API's behaviour (resourceVersion, strategic
// merge patch, 409 conflicts, watch bookmarks and 410 Gone) come from that stand-in, and the
// test plays the controllers (enableRolloutController) and makes the faults (failNext, compact).
import {
  enableRolloutController,
  integrationTest as test,
  RolloutBehaviour,
  type KubeObject,
} from "@kiln/testing";
import { expect } from "vitest";
import { containerPath, deployment, digestOf, startDeployer, triggers, until } from "./support.js";

type Deployment = KubeObject & {
  spec: {
    template: {
      spec: {
        containers: { name: string; image: string }[];
        initContainers?: { name: string; image: string }[];
      };
    };
  };
};
const imageOf = (d: KubeObject | undefined, container = "web") =>
  (d as Deployment | undefined)?.spec.template.spec.containers.find((c) => c.name === container)
    ?.image;

test("an image change rolls an annotated Deployment to the digest, and the deploy ends Complete", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) => {
        enableRolloutController(kube, { behaviour: RolloutBehaviour.Available, delayMs: 50 });
        kube.create(
          deployment("web", {
            annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
            containers: [
              { name: "proxy", image: "envoy:1" },
              { name: "web", image: `registry.kiln.test:5000/apps/app:latest` },
            ],
          }),
        );
        // OpenShift's annotation is honoured as-is.
        kube.create(
          deployment("api", {
            annotation: triggers({
              tag: "app:latest",
              fieldPath: "spec.template.spec.containers[0].image",
            }),
            openshift: true,
          }),
        );
      },
    },
  );
  const ref = await h.moveTag("apps", "app", "latest", digestOf(1));

  const done = await h.waitForDeploy(
    (d) => d.targetName === "web",
    ["Complete", "Failed"],
    "the web deploy",
  );
  expect(done).toMatchObject({
    status: "Complete",
    targetKind: "Deployment",
    targetNamespace: "apps",
    imageStreamTag: "apps/app:latest",
    digest: digestOf(1),
    imageReference: ref,
  });
  expect(done).toMatchObject({
    causeType: "Build",
    causeBuild: "app-1",
    targetContainers: ["web"],
    previousImage: "registry.kiln.test:5000/apps/app:latest",
    attempts: 1,
  });
  const web = h.kube.get("Deployment", "apps", "web");
  expect(imageOf(web)).toBe(ref);
  expect(imageOf(web, "proxy")).toBe("envoy:1");
  expect(web?.metadata.generation).toBe(2);
  await h.waitForDeploy(
    (d) => d.targetName === "api",
    ["Complete"],
    "the api deploy (OpenShift annotation, index form)",
  );
  expect(imageOf(h.kube.get("Deployment", "apps", "api"))).toBe(ref);

  // The patch: a strategic merge of the one container, conditional on the resourceVersion read.
  const patch = h.kube.requests.find(
    (r) => r.method === "PATCH" && r.path === "/apis/apps/v1/namespaces/apps/deployments/web",
  );
  expect(patch?.contentType).toBe("application/strategic-merge-patch+json");
  expect(patch?.body).toEqual({
    metadata: { resourceVersion: expect.any(String) },
    spec: { template: { spec: { containers: [{ name: "web", image: ref }] } } },
  });

  // Each phase was published once, with its natural msg id.
  const events = [];
  for await (const e of h.bus.read("deploy.status-changed", done.id, { follow: false }))
    events.push(e);
  expect(events.map((e) => e.phase)).toEqual(["Pending", "Rolling", "Complete"]);
  expect(events[2]).toMatchObject({
    target: {
      type: "Kubernetes",
      kind: "Deployment",
      namespace: "apps",
      name: "web",
      containers: ["web"],
    },
    imageStreamTag: "apps/app:latest",
    digest: digestOf(1),
  });

  // The same image again (a redelivery) changes nothing; the workload already runs it.
  const patches = h.kube.requests.filter((r) => r.method === "PATCH").length;
  await h.bus.publish(
    "image.changed",
    "apps_app_latest",
    {
      v: 1,
      namespace: "apps",
      imageStream: "app",
      tag: "latest",
      digest: digestOf(1),
      imageReference: ref,
      cause: { type: "Build" },
      at: new Date().toISOString(),
    },
    { msgId: "again" },
  );
  await new Promise((r) => setTimeout(r, 500));
  expect(h.kube.requests.filter((r) => r.method === "PATCH")).toHaveLength(patches);
  expect((await h.deploys()).filter((d) => d.targetName === "web")).toHaveLength(1);
});

test("StatefulSets, DaemonSets and CronJobs follow a tag too, init containers included", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) => {
        enableRolloutController(kube, { behaviour: RolloutBehaviour.Available });
        const podSpec = {
          initContainers: [{ name: "migrate", image: "old" }],
          containers: [{ name: "db", image: "old" }],
        };
        const annotations = {
          "kiln.dev/triggers": triggers(
            { tag: "db:v1", fieldPath: containerPath("db") },
            {
              tag: "db:v1",
              fieldPath: 'spec.template.spec.initContainers[?(@.name=="migrate")].image',
            },
          ),
        };
        kube.create({
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: { name: "db", namespace: "apps", annotations },
          spec: { replicas: 1, serviceName: "db", selector: {}, template: { spec: podSpec } },
        });
        kube.create({
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: { name: "agent", namespace: "apps", annotations },
          spec: { selector: {}, template: { spec: podSpec } },
        });
        kube.create({
          apiVersion: "batch/v1",
          kind: "CronJob",
          metadata: {
            name: "nightly",
            namespace: "apps",
            annotations: {
              "kiln.dev/triggers": triggers({
                tag: "db:v1",
                fieldPath: 'spec.jobTemplate.spec.template.spec.containers[?(@.name=="db")].image',
              }),
            },
          },
          spec: {
            schedule: "0 3 * * *",
            jobTemplate: {
              spec: {
                template: {
                  spec: { containers: [{ name: "db", image: "old" }], restartPolicy: "Never" },
                },
              },
            },
          },
        });
      },
    },
  );
  const ref = await h.moveTag("apps", "db", "v1", digestOf(7));
  for (const name of ["db", "agent", "nightly"])
    await h.waitForDeploy((d) => d.targetName === name, ["Complete"], `the ${name} deploy`);
  const sts = h.kube.get<Deployment>("StatefulSet", "apps", "db")!;
  expect(sts.spec.template.spec.containers[0]?.image).toBe(ref);
  expect(sts.spec.template.spec.initContainers?.[0]?.image).toBe(ref);
  expect((await h.deploys()).find((d) => d.targetName === "db")?.targetContainers).toEqual([
    "db",
    "migrate",
  ]);
  expect(imageOf(h.kube.get("DaemonSet", "apps", "agent"), "db")).toBe(ref);
  const cron = h.kube.get("CronJob", "apps", "nightly") as
    | {
        spec: {
          jobTemplate: { spec: { template: { spec: { containers: { image: string }[] } } } };
        };
      }
    | undefined;
  expect(cron?.spec.jobTemplate.spec.template.spec.containers[0]?.image).toBe(ref);
});

test("a paused trigger leaves the workload as it is", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) => {
        kube.create(
          deployment("frozen", {
            annotation: triggers({
              tag: "app:latest",
              fieldPath: containerPath("web"),
              paused: true,
            }),
          }),
        );
      },
    },
  );
  await h.moveTag("apps", "app", "latest", digestOf(2));
  const skipped = await h.waitForDeploy(
    (d) => d.targetName === "frozen",
    ["Skipped"],
    "the skipped deploy",
  );
  expect(skipped).toMatchObject({ reason: "Paused", attempts: 0 });
  expect(imageOf(h.kube.get("Deployment", "apps", "frozen"))).toBe(
    "registry.kiln.test:5000/apps/app:latest",
  );
  expect(h.kube.requests.filter((r) => r.method === "PATCH")).toEqual([]);
});

test("a 409 Conflict is retried: the workload is read again and patched again", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) => {
        enableRolloutController(kube);
        kube.create(
          deployment("web", {
            annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
          }),
        );
        kube.failNext({
          method: "PATCH",
          path: "/apis/apps/v1/namespaces/apps/deployments/web",
          status: 409,
          message:
            'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
        });
      },
    },
  );
  const ref = await h.moveTag("apps", "app", "latest", digestOf(3));
  const done = await h.waitForDeploy(
    (d) => d.targetName === "web",
    ["Complete", "Failed"],
    "the deploy",
  );
  expect(done).toMatchObject({ status: "Complete", attempts: 2 });
  expect(imageOf(h.kube.get("Deployment", "apps", "web"))).toBe(ref);
  const calls = h.kube.requests
    .filter((r) => r.path === "/apis/apps/v1/namespaces/apps/deployments/web")
    .map((r) => `${r.method} ${r.status}`);
  expect(calls).toEqual(["PATCH 409", "GET 200", "PATCH 200"]);

  // A real conflict: the workload changes between the deployer's read and its patch.
  let raced = false;
  const off = h.kube.onRequest((r) => {
    if (r.method !== "PATCH" || raced) return;
    raced = true;
    h.kube.update("Deployment", "apps", "web", (d) => {
      d.metadata.labels = { ...d.metadata.labels, touched: "yes" };
    });
  });
  const second = await h.moveTag("apps", "app", "latest", digestOf(4));
  const again = await h.waitForDeploy(
    (d) => d.digest === digestOf(4),
    ["Complete", "Failed"],
    "the second deploy",
  );
  off();
  expect(again).toMatchObject({ status: "Complete", attempts: 2 });
  expect(imageOf(h.kube.get("Deployment", "apps", "web"))).toBe(second);
  expect(h.kube.get("Deployment", "apps", "web")?.metadata.labels?.touched).toBe("yes");
});

test("a rollout that never becomes available ends Failed at its deadline; a progress deadline fails it at once", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      rolloutDeadlineMs: 1_500,
      setup: (kube) => {
        enableRolloutController(kube, {
          behaviour: (d) =>
            d.metadata.name === "stuck"
              ? RolloutBehaviour.NeverAvailable
              : RolloutBehaviour.ProgressDeadlineExceeded,
        });
        kube.create(
          deployment("stuck", {
            annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
          }),
        );
        kube.create(
          deployment("slow", {
            annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
          }),
        );
      },
    },
  );
  const started = Date.now();
  await h.moveTag("apps", "app", "latest", digestOf(5));
  const rolling = await h.waitForDeploy(
    (d) => d.targetName === "stuck",
    ["Rolling"],
    "the stuck deploy rolling",
  );
  expect(rolling.status).toBe("Rolling");
  const slow = await h.waitForDeploy(
    (d) => d.targetName === "slow",
    ["Failed"],
    "the slow deploy failing",
  );
  expect(slow).toMatchObject({
    reason: "ProgressDeadlineExceeded",
    message: expect.stringContaining("has timed out progressing"),
  });
  const stuck = await h.waitForDeploy(
    (d) => d.targetName === "stuck",
    ["Failed", "Complete"],
    "the stuck deploy ending",
  );
  expect(stuck).toMatchObject({
    status: "Failed",
    reason: "DeadlineExceeded",
    message: expect.stringMatching(
      /did not finish within 1.5 s \(0 of 2 updated replicas are available\)/,
    ),
  });
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
});

test("a malformed trigger annotation is recorded and logged, and changes nothing", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) => {
        kube.create(
          deployment("broken", {
            annotation: '[{"from": {"kind": "ImageStreamTag", "name": "app"}, "fieldPath": 42}]',
          }),
        );
        kube.create(deployment("notjson", { annotation: "[{from:" }));
      },
    },
  );
  const broken = await h.waitForDeploy(
    (d) => d.targetName === "broken",
    ["Failed"],
    "the broken annotation's record",
  );
  expect(broken).toMatchObject({
    reason: "InvalidTriggerAnnotation",
    targetKind: "Deployment",
    causeType: "Annotated",
    imageStreamTag: null,
  });
  expect(broken.message).toBe(
    "annotation kiln.dev/triggers: [0].from.name: must be IMAGESTREAM:TAG; [0].fieldPath: must be a string",
  );
  const notJson = await h.waitForDeploy(
    (d) => d.targetName === "notjson",
    ["Failed"],
    "the non-JSON annotation's record",
  );
  expect(notJson.message).toMatch(/^annotation kiln.dev\/triggers: not JSON/);
  expect(
    h.logs.lines
      .filter((l) => l.msg === "invalid trigger annotation; workload left as it is")
      .map((l) => l.workload)
      .sort(),
  ).toEqual(["Deployment/apps/broken", "Deployment/apps/notjson"]);

  await h.moveTag("apps", "app", "latest", digestOf(6));
  await new Promise((r) => setTimeout(r, 500));
  expect(h.kube.requests.filter((r) => r.method !== "GET")).toEqual([]);
  // A relist or a restart does not record it twice.
  h.kube.dropWatches();
  await until(() => h.kube.watchCount("Deployment") === 1, "the watch to come back");
  expect((await h.deploys()).filter((d) => d.reason === "InvalidTriggerAnnotation")).toHaveLength(
    2,
  );
});

test("a fieldPath that matches no container is an error naming the path", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const fieldPath = containerPath("api");
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      setup: (kube) =>
        void kube.create(
          deployment("web", { annotation: triggers({ tag: "app:latest", fieldPath }) }),
        ),
    },
  );
  // Reported when the annotation is read…
  const atAnnotation = await h.waitForDeploy(
    (d) => d.targetName === "web",
    ["Failed"],
    "the annotation's record",
  );
  expect(atAnnotation).toMatchObject({
    reason: "FieldPathNotFound",
    message: `fieldPath ${fieldPath} matches no container of Deployment/apps/web: its containers are web`,
  });
  // …and on the image change, which patches nothing.
  await h.moveTag("apps", "app", "latest", digestOf(8));
  const atChange = await h.waitForDeploy(
    (d) => d.digest === digestOf(8),
    ["Failed"],
    "the image change's deploy",
  );
  expect(atChange).toMatchObject({
    reason: "FieldPathNotFound",
    message: `fieldPath ${fieldPath} matches no container of Deployment/apps/web: its containers are web`,
  });
  expect(h.kube.requests.filter((r) => r.method === "PATCH")).toEqual([]);
  expect(h.logs.find("trigger fieldPath matches no container")).toMatchObject({
    workload: "Deployment/apps/web",
  });
});

test("a workload outside the watched namespaces is never patched", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    {
      namespaces: ["apps"],
      setup: (kube) => {
        enableRolloutController(kube);
        kube.create(
          deployment("web", {
            annotation: triggers({
              tag: "app:latest",
              fieldPath: containerPath("web"),
              namespace: "apps",
            }),
          }),
        );
        kube.create(
          deployment("web", {
            namespace: "other",
            annotation: triggers({
              tag: "app:latest",
              fieldPath: containerPath("web"),
              namespace: "apps",
            }),
          }),
        );
      },
    },
  );
  const ref = await h.moveTag("apps", "app", "latest", digestOf(9));
  await h.waitForDeploy(
    (d) => d.targetNamespace === "apps",
    ["Complete"],
    "the watched workload's deploy",
  );
  await new Promise((r) => setTimeout(r, 300));
  expect(imageOf(h.kube.get("Deployment", "apps", "web"))).toBe(ref);
  expect(imageOf(h.kube.get("Deployment", "other", "web"))).toBe(
    "registry.kiln.test:5000/apps/app:latest",
  );
  // Not even read: only the watched namespace's collections were listed and watched.
  expect(h.kube.requests.filter((r) => r.path.includes("/namespaces/other/"))).toEqual([]);
  expect((await h.deploys()).map((d) => d.targetNamespace)).toEqual(["apps"]);
});

test("a newly annotated workload gets the tag's current digest at once", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    { setup: (kube) => void enableRolloutController(kube) },
  );
  const ref = await h.moveTag("apps", "app", "stable", digestOf(10));
  await new Promise((r) => setTimeout(r, 200));
  h.kube.create(
    deployment("fresh", {
      annotation: triggers({ tag: "app:stable", fieldPath: containerPath("web") }),
    }),
  );
  const done = await h.waitForDeploy(
    (d) => d.targetName === "fresh",
    ["Complete"],
    "the new workload's deploy",
  );
  expect(done).toMatchObject({
    causeType: "Annotated",
    digest: digestOf(10),
    causeMessage: `the workload was annotated; apps/app:stable is at ${digestOf(10)}`,
  });
  expect(imageOf(h.kube.get("Deployment", "apps", "fresh"))).toBe(ref);

  // An existing workload that gets the annotation later, too.
  h.kube.create(deployment("later"));
  await new Promise((r) => setTimeout(r, 200));
  h.kube.update("Deployment", "apps", "later", (d) => {
    d.metadata.annotations = {
      "kiln.dev/triggers": triggers({ tag: "app:stable", fieldPath: containerPath("web") }),
    };
  });
  await h.waitForDeploy(
    (d) => d.targetName === "later",
    ["Complete"],
    "the later workload's deploy",
  );
  expect(imageOf(h.kube.get("Deployment", "apps", "later"))).toBe(ref);
});

test("a watch that gets 410 Gone lists again and misses nothing; bookmarks keep a dropped watch from expiring", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using h = await startDeployer(
    { infra, database, subjectPrefix },
    { setup: (kube) => void enableRolloutController(kube) },
  );
  const ref = await h.moveTag("apps", "app", "latest", digestOf(11));
  await until(
    () => h.kubernetes.stats().synced && h.kube.watchCount("Deployment") === 1,
    "the watches",
  );
  const listPath = "/apis/apps/v1/namespaces/apps/deployments";
  const lists = () =>
    h.kube.requests.filter((r) => r.path === listPath && r.query.watch === undefined).length;

  // Bookmarks: writes the watch does not see move the resourceVersion on; a bookmark tells the
  // deployer, so after a compaction and a dropped connection it resumes without a 410.
  h.kube.create(deployment("elsewhere", { namespace: "unwatched" }));
  await until(
    () => h.kube.get("Deployment", "unwatched", "elsewhere")?.status,
    "the controller's status write",
  );
  h.kube.bookmark();
  await new Promise((r) => setTimeout(r, 200));
  const before = lists();
  h.kube.compact();
  h.kube.dropWatches();
  await until(() => h.kube.watchCount("Deployment") === 1, "the watch to come back");
  await new Promise((r) => setTimeout(r, 200));
  expect(lists()).toBe(before);

  // 410: without a bookmark, the compaction passes the watch's version. What happens while it is
  // away (a workload annotated) is found by listing again.
  h.kube.create(deployment("elsewhere2", { namespace: "unwatched" }));
  h.kube.compact();
  h.kube.dropWatches();
  h.kube.create(
    deployment("late", {
      annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
    }),
  );
  await h.waitForDeploy(
    (d) => d.targetName === "late",
    ["Complete"],
    "the deploy of the workload seen by the relist",
  );
  expect(imageOf(h.kube.get("Deployment", "apps", "late"))).toBe(ref);
  expect(lists()).toBe(before + 1);
  expect(
    h.logs.lines.some((l) => l.msg === "watch expired; listing again" && l.kind === "Deployment"),
  ).toBe(true);
});
