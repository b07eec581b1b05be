// Helpers of the kubernetes-engine tests. The Kubernetes API in these tests is a STAND-IN
// (@kiln/testing's StandInApiServer), not Kubernetes; see the top of each test file.
import { join } from "node:path";
import type { V1Job } from "@kubernetes/client-node";
import type { BuildJob, BuildLogSink, BuildRevision, BuildSpec, BuildStep } from "@kiln/domain";
import { KubernetesEngine, type KubernetesEngineOptions } from "@kiln/kube-engine";
import type { StandInApiServer, WorkerInfra } from "@kiln/testing";
import { repoRoot } from "../support/kiln-services.js";

/** The namespace build Jobs run in, in these tests. */
export const buildNamespace = "kiln-builds";

/**
 * The step command as the build pod runs it. In the Kiln image it is `kiln-build-step` on the
 * PATH; here the local kubelet runs the very same bin with this host's node.
 */
export const stepCommand = [
  process.execPath,
  join(repoRoot, "packages/kube-engine/bin/kiln-build-step.mjs"),
];

/** What an engine wrote to the build log, in order. */
export type RecordingSink = BuildLogSink & {
  entries: ({ line: string } | { step: BuildStep })[];
  lines: string[];
  steps: BuildStep[];
  revisions: BuildRevision[];
  /** The log as `kiln logs` shows it (`--> Step` for steps). */
  text(): string;
};

export function recordingSink(): RecordingSink {
  const entries: RecordingSink["entries"] = [];
  const revisions: BuildRevision[] = [];
  return {
    entries,
    revisions,
    get lines() {
      return entries.flatMap((e) => ("line" in e ? [e.line] : []));
    },
    get steps() {
      return entries.flatMap((e) => ("step" in e ? [e.step] : []));
    },
    line: (line) => entries.push({ line }),
    step: (step) => entries.push({ step }),
    sourceFetched: (revision) => revisions.push(revision),
    text: () => entries.map((e) => ("line" in e ? e.line : `--> ${e.step}`)).join("\n"),
  };
}

let counter = 0;

/** A Docker-strategy build of `spec` (merged over a small default). */
export function buildJob(spec: Partial<BuildSpec>, extra: Partial<BuildJob> = {}): BuildJob {
  counter += 1;
  return {
    id: `00000000-0000-4000-8000-${String(Date.now() % 1e6).padStart(6, "0")}${String(counter).padStart(6, "0")}`,
    namespace: "default",
    name: `hello-${counter}`,
    spec: {
      buildConfig: "hello",
      number: counter,
      source: { dockerfile: "FROM scratch\n" },
      strategy: { type: "Docker" },
      output: { image: null, imageLabels: [] },
      revision: {},
      env: [],
      triggeredBy: [{ type: "Manual", message: "test" }],
      ...spec,
    },
    ...extra,
  };
}

/** The engine under test, talking to the stand-in API server with the real @kubernetes/client-node. */
export function kubeEngine(
  kube: StandInApiServer,
  options: Partial<KubernetesEngineOptions> = {},
): KubernetesEngine {
  return new KubernetesEngine({
    kubeConfig: kube.kubeConfig(buildNamespace),
    namespace: buildNamespace,
    image: "registry.example.test/kiln/kiln:test",
    stepCommand,
    insecureRegistries: [],
    pollIntervalMs: 100,
    logDrainMs: 3000,
    ...options,
  });
}

/** The Job the engine created (the body of its POST), as the API server received it. */
export function postedJob(kube: StandInApiServer): V1Job {
  const request = kube.requests.find(
    (r) => r.method === "POST" && r.path === `/apis/batch/v1/namespaces/${buildNamespace}/jobs`,
  );
  if (!request) throw new Error("the engine created no Job");
  return request.body as V1Job;
}

/** Waits until `check` returns something truthy (polling the stand-in's store). */
export async function eventually<T>(
  check: () => T | undefined | null | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A docker config JSON for `registry` (the test registry asks for no credentials, so they are only carried, never checked). */
/** Kiln's account for the worker registry as both of a build's configs, as the build-runner adds it to every build. */
export function kilnCredentials(infra: WorkerInfra): { pull: string; push: string } {
  const { address, credentials } = infra.registry;
  const config = dockerConfig(address, credentials.username, credentials.password);
  return { pull: config, push: config };
}

export function dockerConfig(registry: string, user: string, password: string): string {
  return JSON.stringify({
    auths: { [registry]: { auth: Buffer.from(`${user}:${password}`).toString("base64") } },
  });
}
