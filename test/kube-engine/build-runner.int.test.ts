// The Kubernetes API in this test is a STAND-IN (@kiln/testing's StandInApiServer), not
// Kubernetes: no cluster can be had on the build machines. The build-runner is the real service
// process with BUILD_RUNNER_ENGINE=kubernetes and a KUBECONFIG pointing at the stand-in; the test
// plays the Job controller and the kubelet (LocalKubelet), running the build pod's containers
// (Kiln's own step command) as local processes. NATS, PostgreSQL, the registry, git and buildah
// are real, as are the api and the scheduler.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Secret } from "@kubernetes/client-node";
import {
  integrationTest as test,
  LocalKubelet,
  makeGitRepo,
  StandInApiServer,
} from "@kiln/testing";
import { afterEach, expect } from "vitest";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { buildNamespace, postedJob, stepCommand } from "./helpers.js";
import { buildUser } from "../support/build-user.js";

let running: RunningKiln | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await cleanup?.();
  cleanup = undefined;
});

test("BUILD_RUNNER_ENGINE=kubernetes builds a BuildConfig in a Job carrying its resources, nodeSelector and service account, and the build's log is the pod's", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const kube = await StandInApiServer.start();
  const root = await mkdtemp(join(tmpdir(), "kiln-kubelet-"));
  await chmod(root, 0o711); // the pods' user (the build user) reaches its pod dirs below
  const kubelet = new LocalKubelet({
    kube,
    rootDir: root,
    runAs: await buildUser(),
    terminationMessageEnv: "KILN_TERMINATION_LOG",
    namespace: buildNamespace,
  }).start();
  cleanup = async () => {
    await kubelet.stop();
    await kube.stop();
    await rm(root, { recursive: true, force: true });
  };
  const kubeconfig = await kube.writeKubeconfig(join(root, "kubeconfig"), buildNamespace);
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo from-a-job > /where\nCMD ["cat", "/where"]\n`,
  });

  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: {
      BUILD_RUNNER_ENGINE: "kubernetes",
      API_BUILD_ENGINE: "kubernetes",
      KUBECONFIG: kubeconfig,
      BUILD_RUNNER_KUBE_NAMESPACE: buildNamespace,
      BUILD_RUNNER_KUBE_IMAGE: "registry.example.test/kiln/kiln:test",
      BUILD_RUNNER_KUBE_STEP_COMMAND: stepCommand.join(" "),
      BUILD_RUNNER_KUBE_POLL_INTERVAL_MS: "200",
    },
  });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "hello" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
          completionDeadlineSeconds: 300,
          resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: 2147483648 } },
          nodeSelector: { "kubernetes.io/arch": "amd64" },
          serviceAccount: "builder",
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  // The api knows its runners run build pods: the service account is no warning here.
  expect(applied.json.warnings).toEqual([]);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/hello/instantiate", {});
  const build = await waitForBuild(call, "hello-1", finished);
  expect(build.status.phase).toBe("Complete");
  expect(build.status.output.imageReference).toBe(
    `${infra.registry.address}/default/hello@${build.status.output.digest}`,
  );
  expect(build.spec.revision).toMatchObject({ commit: repo.commit });
  // The BuildConfig's resources and nodeSelector went with the build's spec into its Job.
  expect(build.spec.resources).toEqual({
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { memory: "2147483648" },
  });
  const job = postedJob(kube);
  expect(job.metadata?.labels).toMatchObject({
    "kiln.dev/build": "hello-1",
    "kiln.dev/buildconfig": "hello",
    "kiln.dev/namespace": "default",
  });
  expect(job.spec?.activeDeadlineSeconds).toBe(300);
  expect(job.spec?.template.spec?.nodeSelector).toEqual({ "kubernetes.io/arch": "amd64" });
  expect(job.spec?.template.spec?.serviceAccountName).toBe("builder");
  // As every build pod: the account's token is not mounted (a build needs no API access).
  expect(job.spec?.template.spec?.automountServiceAccountToken).toBe(false);
  expect(job.spec?.template.spec?.containers[0]?.resources).toEqual({
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { memory: "2147483648" },
  });

  const log = await call("GET", "/apis/v1/namespaces/default/builds/hello-1/log");
  expect(log.text).toContain(`Running in Job ${buildNamespace}/${job.metadata?.name}`);
  expect(log.text).toContain("--> FetchSource");
  expect(log.text).toContain("--> Build");
  expect(log.text).toContain("--> Push");
  expect(log.text).toContain("RUN echo from-a-job");
  expect(kubelet.errors).toEqual([]);

  // The BuildConfig names no Secret: the runner's own account for Kiln's registry reached the
  // pod as the build's pull and push Secrets (its base image and its output are both there),
  // for that registry only, and never the Job itself.
  const secrets = kube.requests
    .filter((r) => r.method === "POST" && r.path.endsWith("/secrets"))
    .map((r) => r.body as V1Secret);
  expect(secrets.map((s) => s.metadata?.name)).toEqual([
    `${job.metadata?.name}-pull`,
    `${job.metadata?.name}-push`,
  ]);
  const { username, password } = infra.registry.credentials;
  for (const secret of secrets) {
    expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
    const config = JSON.parse(
      Buffer.from(secret.data?.[".dockerconfigjson"] ?? "", "base64").toString("utf8"),
    ) as { auths: Record<string, { auth: string }> };
    expect(config).toEqual({
      auths: {
        [infra.registry.address]: {
          auth: Buffer.from(`${username}:${password}`).toString("base64"),
        },
      },
    });
  }
  expect(JSON.stringify(job)).not.toContain(password);
  expect(log.text).not.toContain(password);
});
