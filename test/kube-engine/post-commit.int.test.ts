// The Kubernetes API in these tests is a STAND-IN (@kiln/testing's StandInApiServer), not
// Kubernetes: no cluster can be had on the build machines. The test plays the Job controller and
// the kubelet (LocalKubelet): it runs the build pod's containers, which are Kiln's own step
// command, as local processes on this host. The post-commit hook itself is real: the build
// container's buildah runs it, as it runs the build's RUN steps in the pod, against the real
// registry.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuildFailure } from "@kiln/domain";
import {
  integrationTest as test,
  LocalKubelet,
  makeGitRepo,
  StandInApiServer,
  type WorkerInfra,
} from "@kiln/testing";
import { afterEach, beforeEach, expect } from "vitest";
import { buildJob, kilnCredentials, kubeEngine, recordingSink } from "./helpers.js";
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

async function manifestStatus(infra: WorkerInfra, repository: string): Promise<number> {
  const res = await fetch(`${infra.registry.url}/v2/${repository}/manifests/latest`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return res.status;
}

test("in the build pod the post-commit hook runs on the committed image with the build's env before the push; a failing one fails the build PostCommitHookFailed and the registry gets nothing", async ({
  infra,
  baseImage,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo built-in-the-pod > /greeting\n`,
  });
  const engine = kubeEngine(kube, {
    insecureRegistries: [infra.registry.address],
    isolation: "oci",
  });

  const passingImage = `${infra.registry.address}/kube-hook/passing:latest`;
  const passing = recordingSink();
  const output = await engine.run(
    buildJob(
      {
        source: { git: { uri: repo.url } },
        strategy: {
          type: "Docker",
          dockerStrategy: { env: [{ name: "GREETING", value: "from-the-strategy" }] },
        },
        env: [{ name: "EXTRA", value: "from-start-build" }],
        output: { image: passingImage, imageLabels: [] },
        // command + args: args follow the command (here sh -c's $0).
        postCommit: {
          command: ["/bin/sh", "-c", 'echo "hook sees $GREETING $EXTRA $0"; cat /greeting'],
          args: ["an-arg"],
        },
      },
      { credentials: kilnCredentials(infra) },
    ),
    passing,
    new AbortController().signal,
  );
  expect(passing.steps).toEqual(["FetchSource", "Build", "Commit", "PostCommit", "Push"]);
  const hookPart = passing.text().slice(passing.text().indexOf("--> PostCommit"));
  expect(hookPart).toContain("hook sees from-the-strategy from-start-build an-arg");
  expect(hookPart).toContain("built-in-the-pod");
  expect(output?.image).toBe(passingImage);
  expect(await manifestStatus(infra, "kube-hook/passing")).toBe(200);

  const failing = recordingSink();
  const failure = await engine
    .run(
      buildJob(
        {
          source: { git: { uri: repo.url } },
          output: { image: `${infra.registry.address}/kube-hook/failing:latest`, imageLabels: [] },
          postCommit: { script: "echo pod-hook-failed; exit 4" },
        },
        { credentials: kilnCredentials(infra) },
      ),
      failing,
      new AbortController().signal,
    )
    .catch((e: unknown) => e);
  expect(failure).toBeInstanceOf(BuildFailure);
  expect(failure).toMatchObject({ reason: "PostCommitHookFailed" });
  expect((failure as BuildFailure).message).toMatch(/^the post-commit hook failed \(exit 4\)/);
  expect(failing.steps).toEqual(["FetchSource", "Build", "Commit", "PostCommit"]);
  expect(failing.text()).toContain("pod-hook-failed");
  expect(await manifestStatus(infra, "kube-hook/failing")).toBe(404);
});
