// The Kubernetes API in these tests is a STAND-IN (@kiln/testing's StandInApiServer), not
// Kubernetes: no cluster can be had on the build machines. The test plays the Job controller and
// the kubelet (LocalKubelet): it runs the build pod's containers, which are Kiln's own step
// command, as local processes on this host, with their volumes as host directories. Everything
// else is real: git, buildah (chroot isolation, vfs), the registry, NATS, and
// @kubernetes/client-node talking HTTP to the stand-in. Not emulated: the container runtime
// (no image pull, no user switching, no seccomp/AppArmor), so the pod's security context is
// checked on the manifest (job-manifest.test.ts), not enforced here.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import type { V1Pod, V1Secret } from "@kubernetes/client-node";
import { Bus } from "@kiln/bus";
import { BuildFailure } from "@kiln/domain";
import {
  integrationTest as test,
  LocalKubelet,
  makeGitRepo,
  StandInApiServer,
  tarBytes,
} from "@kiln/testing";
import { pino } from "pino";
import { afterEach, beforeEach, expect } from "vitest";
import { runImage } from "../support/images.js";
import {
  buildJob,
  buildNamespace,
  dockerConfig,
  eventually,
  kilnCredentials,
  kubeEngine,
  postedJob,
  recordingSink,
} from "./helpers.js";
import { buildUser } from "../support/build-user.js";

let kube: StandInApiServer;
let kubelet: LocalKubelet;
let root: string;

beforeEach(async () => {
  kube = await StandInApiServer.start();
  root = await mkdtemp(join(tmpdir(), "kiln-kubelet-"));
  await chmod(root, 0o711); // the pods' user (the build user) reaches its pod dirs below
  kubelet = new LocalKubelet({
    kube,
    rootDir: root,
    runAs: await buildUser(),
    terminationMessageEnv: "KILN_TERMINATION_LOG",
  }).start();
});

afterEach(async () => {
  await kubelet.stop();
  expect(kubelet.errors).toEqual([]);
  await kube.stop();
  await rm(root, { recursive: true, force: true });
});

test("a Job-engine build clones, builds and pushes in its pod, streams the pod's logs and completes with the digest of its termination message", async ({
  infra,
  baseImage,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo built-in-the-pod > /greeting\nCMD ["cat", "/greeting"]\n`,
  });
  const image = `${infra.registry.address}/kube-engine/hello:latest`;
  // Kiln's account for its registry, as the build-runner adds it to every build's credentials.
  const { username, password } = infra.registry.credentials;
  const credentials = dockerConfig(infra.registry.address, username, password);
  const job = buildJob(
    {
      source: { git: { uri: repo.url, ref: "main" } },
      output: { image, imageLabels: [] },
      revision: { commit: repo.commit },
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "2Gi" } },
      nodeSelector: { "kubernetes.io/os": "linux" },
      completionDeadlineSeconds: 600,
    },
    { credentials: { pull: credentials, push: credentials } },
  );
  const sink = recordingSink();
  // RUN steps in namespaces of their own inside the pod (the stand-in kubelet runs the pod as the
  // build user; a cluster runs it as root of the pod's user namespace).
  const engine = kubeEngine(kube, {
    insecureRegistries: [infra.registry.address],
    isolation: "oci",
  });

  const output = await engine.run(job, sink, new AbortController().signal);
  expect(postedJob(kube).spec?.template.spec?.hostUsers).toBe(false);
  expect(sink.text()).not.toContain("WARNING: chroot isolation");

  // The digest the build container reported is the one the registry holds under the tag.
  expect(output?.image).toBe(image);
  expect(output?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(output?.imageReference).toBe(
    `${infra.registry.address}/kube-engine/hello@${output?.digest}`,
  );
  const head = await fetch(`${infra.registry.url}/v2/kube-engine/hello/manifests/latest`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  expect(head.headers.get("docker-content-digest")).toBe(output?.digest);
  expect(output?.size).toBeGreaterThan(0);
  expect(await runImage(baseImage, output!.imageReference)).toBe("built-in-the-pod");

  // The revision came from the fetch container's termination message.
  expect(sink.revisions).toEqual([
    expect.objectContaining({ commit: repo.commit, ref: "main", message: "initial commit" }),
  ]);

  // The pod's logs are the build log: the init container's lines, then the build container's,
  // with the step markers of the local engine.
  const log = sink.text();
  expect(sink.steps).toEqual(["FetchSource", "Build", "Commit", "Push"]);
  expect(log).toContain(`Cloning ${repo.url} at ${repo.commit}`);
  expect(log).toContain(`Commit ${repo.commit} (initial commit)`);
  expect(log).toMatch(/STEP 2\/\d+: RUN echo built-in-the-pod/);
  expect(log).toContain(`Pushed ${output?.imageReference}`);
  expect(log.indexOf("Commit ")).toBeLessThan(log.indexOf("--> Build"));
  expect(log.indexOf("--> Build")).toBeLessThan(log.indexOf("--> Push"));
  expect(sink.lines[0]).toMatch(
    new RegExp(`^Running in Job ${buildNamespace}/kiln-default-${job.name}-[a-z0-9]{5}$`),
  );

  // One Job, unprivileged, with the BuildConfig's resources and nodeSelector; it ran to Complete.
  const posted = postedJob(kube);
  const jobName = posted.metadata?.name ?? "";
  const pod = posted.spec?.template.spec;
  expect(posted.spec?.activeDeadlineSeconds).toBe(600);
  expect(posted.spec?.backoffLimit).toBe(0);
  expect(pod?.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
  for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    expect(c.resources).toEqual({
      requests: { cpu: "100m", memory: "256Mi" },
      limits: { memory: "2Gi" },
    });
    expect(c.securityContext?.privileged).toBe(false);
  }
  expect(pod?.volumes?.some((v) => "hostPath" in v)).toBe(false);
  const stored = kube.get<{ status?: { conditions?: { type: string }[] } }>(
    "Job",
    buildNamespace,
    jobName,
  );
  expect(stored?.status?.conditions?.map((c) => c.type)).toContain("Complete");
  const [ranPod] = kube.list<V1Pod>("Pod", buildNamespace);
  expect(ranPod?.status?.phase).toBe("Succeeded");

  // The credentials went in per-build Secrets owned by the Job, which are gone now; they never
  // reached the Job, the log or the API server's request log other than in the Secrets.
  const secretPosts = kube.requests.filter(
    (r) => r.method === "POST" && r.path.endsWith("/secrets"),
  );
  expect(secretPosts.map((r) => (r.body as V1Secret).metadata?.name)).toEqual([
    `${jobName}-pull`,
    `${jobName}-push`,
  ]);
  for (const r of secretPosts)
    expect((r.body as V1Secret).metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "Job",
      name: jobName,
      uid: expect.any(String),
    });
  expect(kube.list("Secret", buildNamespace)).toEqual([]);
  const encoded = Buffer.from(`${username}:${password}`).toString("base64");
  expect(log).not.toContain(password);
  expect(log).not.toContain(encoded);
  expect(JSON.stringify(posted)).not.toContain(encoded);
});

test("a Dockerfile that fails in the build container ends the build with DockerBuildFailed and the step's own message", async ({
  infra,
  baseImage,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo about-to-fail && exit 3\n`,
  });
  const sink = recordingSink();
  const engine = kubeEngine(kube, { insecureRegistries: [infra.registry.address] });
  const failure = await engine
    .run(
      buildJob({ source: { git: { uri: repo.url } } }, { credentials: kilnCredentials(infra) }),
      sink,
      new AbortController().signal,
    )
    .catch((e: unknown) => e);
  expect(failure).toBeInstanceOf(BuildFailure);
  expect(failure).toMatchObject({
    reason: "DockerBuildFailed",
    // buildah's own reason, then its exit code.
    message: expect.stringMatching(/^the Dockerfile build failed: .*exit status 3 \(exit 3\)$/),
  });
  // The failing step's output is in the log, after the fetch container's.
  expect(sink.text()).toContain("about-to-fail");
  expect(sink.steps).toEqual(["FetchSource", "Build"]);
  const [pod] = kube.list<V1Pod>("Pod", buildNamespace);
  expect(pod?.status?.phase).toBe("Failed");
  expect(pod?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(1);
});

test("a source that cannot be cloned fails in the init container with FetchSourceFailed, and the build container never starts", async ({
  infra,
}) => {
  const sink = recordingSink();
  const engine = kubeEngine(kube, { insecureRegistries: [infra.registry.address] });
  const missing = `file://${join(root, "no-such-repo.git")}`;
  const failure = await engine
    .run(buildJob({ source: { git: { uri: missing } } }), sink, new AbortController().signal)
    .catch((e: unknown) => e);
  expect(failure).toMatchObject({
    reason: "FetchSourceFailed",
    message: `git clone of ${missing} failed (exit 128)`,
  });
  expect(sink.steps).toEqual(["FetchSource"]);
  const [pod] = kube.list<V1Pod>("Pod", buildNamespace);
  expect(pod?.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(1);
  expect(pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe("PodInitializing");
});

test("completionDeadlineSeconds becomes the Job's activeDeadlineSeconds: the pod is killed and the build ends DeadlineExceeded", async ({
  infra,
  baseImage,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo sleeping && sleep 120\n`,
  });
  const sink = recordingSink();
  const engine = kubeEngine(kube, { insecureRegistries: [infra.registry.address] });
  const started = Date.now();
  const failure = await engine
    .run(
      buildJob(
        { source: { git: { uri: repo.url } }, completionDeadlineSeconds: 8 },
        { credentials: kilnCredentials(infra) },
      ),
      sink,
      new AbortController().signal,
    )
    .catch((e: unknown) => e);
  expect(failure).toMatchObject({
    reason: "DeadlineExceeded",
    message: "build exceeded completionDeadlineSeconds (8 s)",
  });
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(postedJob(kube).spec?.activeDeadlineSeconds).toBe(8);
  // The Job controller deleted the pod, and with it every process of the build.
  expect(kube.list("Pod", buildNamespace)).toEqual([]);
  await kubelet.idle();
});

test("a binary build's init container reads the upload from the bus's object store and unpacks it", async ({
  infra,
  baseImage,
  subjectPrefix,
}) => {
  const bus = await Bus.connect({
    servers: infra.natsUrl,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    prefix: subjectPrefix,
    name: "kube-engine-test",
    logger: pino({ level: "silent" }),
  });
  try {
    await bus.ensureStreams();
    const archive = tarBytes([
      {
        path: "Dockerfile",
        content: `FROM ${baseImage.ref}\nCOPY message /message\nCMD ["cat", "/message"]\n`,
      },
      { path: "message", content: "uploaded-to-the-pod\n" },
    ]);
    await bus.putObject(
      "BUILD_INPUTS",
      "upload-1",
      Readable.toWeb(Readable.from([archive])) as ReadableStream<Uint8Array>,
    );
    const image = `${infra.registry.address}/kube-engine/binary:latest`;
    const sink = recordingSink();
    const engine = kubeEngine(kube, {
      insecureRegistries: [infra.registry.address],
      // The pod reads its upload as the `build-pod` identity, through a per-build Secret.
      binaryInput: {
        natsUrl: infra.natsUrl,
        subjectPrefix,
        nkeySeed: infra.busCredentials["build-pod"],
      },
    });
    const output = await engine.run(
      buildJob(
        {
          source: { type: "Binary", binary: {} },
          output: { image, imageLabels: [] },
          binaryInput: {
            object: "upload-1",
            kind: "archive",
            size: archive.length,
            sha256: createHash("sha256").update(archive).digest("hex"),
          },
        },
        { credentials: kilnCredentials(infra) },
      ),
      sink,
      new AbortController().signal,
    );
    expect(sink.text()).toContain("Extracted the archive");
    expect(await runImage(baseImage, output!.imageReference)).toBe("uploaded-to-the-pod");
  } finally {
    await bus.drain();
  }
});

test("cancelling a running build deletes its Job: the pod's processes are stopped and its Secret is gone", async ({
  infra,
  baseImage,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo long-build && sleep 120\n`,
  });
  const sink = recordingSink();
  const engine = kubeEngine(kube, { insecureRegistries: [infra.registry.address] });
  const controller = new AbortController();
  const running = engine
    .run(
      buildJob({ source: { git: { uri: repo.url } } }, { credentials: kilnCredentials(infra) }),
      sink,
      controller.signal,
    )
    .catch((e: unknown) => e);
  await eventually(() => sink.lines.includes("long-build"), 120_000);
  const reason = new Error("cancelled by a user");
  controller.abort(reason);
  expect(await running).toBe(reason);
  const deletion = kube.requests.find(
    (r) =>
      r.method === "DELETE" &&
      r.path.startsWith(`/apis/batch/v1/namespaces/${buildNamespace}/jobs/`),
  );
  expect(
    deletion?.query.propagationPolicy ??
      (deletion?.body as { propagationPolicy?: string } | undefined)?.propagationPolicy,
  ).toBe("Background");
  expect(kube.list("Job", buildNamespace)).toEqual([]);
  expect(kube.list("Pod", buildNamespace)).toEqual([]);
  expect(kube.list("Secret", buildNamespace)).toEqual([]);
  // The kubelet's SIGTERM reached the step command, which stopped buildah and its RUN step.
  await kubelet.idle();
});
