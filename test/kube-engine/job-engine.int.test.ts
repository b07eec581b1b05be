// The Kubernetes API in these tests is a STAND-IN (@kiln/testing's StandInApiServer), not
// Kubernetes: no cluster can be had on the build machines. The engine talks to it over HTTP with
// the real @kubernetes/client-node; the test plays the Job controller and the kubelet by hand,
// writing the pod's statuses, termination messages and logs, to reach the cases a local run
// cannot (a log stream the server closes, an out-of-memory kill, an unschedulable pod, a refused
// Job, an API outage). pod-runs-locally.int.test.ts runs the pod's containers for real.
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { BuildFailure } from "@kiln/domain";
import { encodeStepReport, KubeApiError, KubeLabel } from "@kiln/kube-engine";
import { podFromJob, StandInApiServer } from "@kiln/testing";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  buildJob,
  buildNamespace,
  eventually,
  kubeEngine,
  postedJob,
  recordingSink,
} from "./helpers.js";

let kube: StandInApiServer;

beforeEach(async () => {
  kube = await StandInApiServer.start();
});
afterEach(async () => {
  expect(kube.hookErrors).toEqual([]);
  await kube.stop();
});

const digest = `sha256:${"5e".repeat(32)}`;
const revision = {
  commit: "a".repeat(40),
  ref: "main",
  author: "Kiln Test <test@kiln.invalid>",
  date: "2024-01-01T00:00:00Z",
  message: "initial commit",
};
const now = () => new Date().toISOString();
type ContainerState = Record<string, unknown>;

/** The Job controller: each new Job gets its pod, both containers waiting. Returns the pod's name for a Job. */
function jobController(): { podOf: (jobName: string) => string } {
  kube.onCreate("Job", (job) => {
    kube.create(
      podFromJob(job, {
        status: {
          phase: "Pending",
          initContainerStatuses: [
            {
              name: "fetch",
              image: "kiln",
              imageID: "",
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: "PodInitializing" } },
            },
          ],
          containerStatuses: [
            {
              name: "build",
              image: "kiln",
              imageID: "",
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: "PodInitializing" } },
            },
          ],
        },
      }),
    );
  });
  return { podOf: (jobName) => `${jobName}-x7k2p` };
}

/** The kubelet writing one container's state. */
function setContainer(
  pod: string,
  container: "fetch" | "build",
  state: ContainerState,
  phase?: string,
): void {
  kube.update<V1Pod>("Pod", buildNamespace, pod, (p) => {
    const key = container === "fetch" ? "initContainerStatuses" : "containerStatuses";
    const statuses = p.status?.[key] ?? [];
    p.status = {
      ...p.status,
      ...(phase ? { phase } : {}),
      [key]: statuses.map((s) => (s.name === container ? { ...s, state } : s)),
    };
  });
}

/** The kubelet: a container ended, and so did its log. */
function terminate(
  pod: string,
  container: "fetch" | "build",
  terminated: Record<string, unknown>,
  phase?: string,
): void {
  setContainer(pod, container, { terminated }, phase);
  kube.endPodLog(buildNamespace, pod, container);
}

function finishJob(
  jobName: string,
  type: "Complete" | "Failed",
  reason: string,
  message = "",
): void {
  kube.update<V1Job>("Job", buildNamespace, jobName, (j) => {
    j.status = { ...j.status, conditions: [{ type, status: "True", reason, message }] };
  });
}

/** Waits for the engine's Job, returning its name. */
async function createdJob(): Promise<string> {
  const job = await eventually(() => kube.list<V1Job>("Job", buildNamespace)[0]);
  return job.metadata?.name ?? "";
}

describe("the kubernetes engine against a hand-played kubelet", () => {
  test("streams the init container's log, then the build container's, with step markers, reopening a stream the server closed without repeating a line", async () => {
    const { podOf } = jobController();
    const sink = recordingSink();
    const running = kubeEngine(kube).run(buildJob({}), sink, new AbortController().signal);
    const jobName = await createdJob();
    const pod = podOf(jobName);
    await eventually(() => kube.get("Pod", buildNamespace, pod));

    setContainer(pod, "fetch", { running: { startedAt: now() } });
    kube.appendPodLog(
      buildNamespace,
      pod,
      "fetch",
      ["--> FetchSource", "Cloning https://example.test/hello.git", "same write 1", "same write 2"],
      new Date(Date.now() - 1000),
    );
    await eventually(() => sink.lines.includes("same write 2"));
    // The API server closes the follow stream (a timeout); the container goes on writing.
    kube.dropPodLogStreams(buildNamespace, pod, "fetch");
    kube.appendPodLog(
      buildNamespace,
      pod,
      "fetch",
      `Commit ${revision.commit} (initial commit) by ${revision.author}`,
    );
    setContainer(pod, "fetch", {
      terminated: {
        exitCode: 0,
        reason: "Completed",
        message: encodeStepReport({ v: 1, step: "fetch", revision }),
      },
    });
    kube.endPodLog(buildNamespace, pod, "fetch");

    setContainer(pod, "build", { running: { startedAt: now() } }, "Running");
    kube.appendPodLog(buildNamespace, pod, "build", [
      "--> Build",
      "STEP 1/1: FROM scratch",
      "--> 1d3e11fa8aa",
      "--> Push",
      "Pushed r/x@" + digest,
    ]);
    kube.endPodLog(buildNamespace, pod, "build");
    const output = { image: "r/x:latest", digest, imageReference: `r/x@${digest}`, size: 42 };
    setContainer(
      pod,
      "build",
      {
        terminated: {
          exitCode: 0,
          reason: "Completed",
          message: encodeStepReport({ v: 1, step: "build", output }),
        },
      },
      "Succeeded",
    );
    finishJob(jobName, "Complete", "CompletionsReached");

    expect(await running).toEqual(output);
    expect(sink.revisions).toEqual([revision]);
    expect(sink.entries).toEqual([
      { line: `Running in Job ${buildNamespace}/${jobName}` },
      { step: "FetchSource" },
      { line: "Cloning https://example.test/hello.git" },
      { line: "same write 1" },
      { line: "same write 2" },
      { line: `Commit ${revision.commit} (initial commit) by ${revision.author}` },
      { step: "Build" },
      { line: "STEP 1/1: FROM scratch" },
      // Not a step of Kiln's: buildah's own arrow stays a line.
      { line: "--> 1d3e11fa8aa" },
      { step: "Push" },
      { line: `Pushed r/x@${digest}` },
    ]);
    // The log was read as the API serves it: follow, with timestamps, reopened from the last line.
    const logReads = kube.requests.filter(
      (r) => r.path.endsWith(`/pods/${pod}/log`) && r.query.container === "fetch",
    );
    expect(logReads.length).toBeGreaterThanOrEqual(2);
    expect(logReads.every((r) => r.query.follow === "true" && r.query.timestamps === "true")).toBe(
      true,
    );
    expect(logReads.at(-1)?.query.sinceTime).toBeDefined();
  });

  test("a build container killed for its memory ends OutOfMemoryKilled, naming the limit", async () => {
    const { podOf } = jobController();
    const running = kubeEngine(kube)
      .run(
        buildJob({ resources: { limits: { memory: "512Mi" } } }),
        recordingSink(),
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    const jobName = await createdJob();
    const pod = podOf(jobName);
    await eventually(() => kube.get("Pod", buildNamespace, pod));
    terminate(pod, "fetch", {
      exitCode: 0,
      reason: "Completed",
      message: encodeStepReport({ v: 1, step: "fetch", revision: null }),
    });
    terminate(pod, "build", { exitCode: 137, reason: "OOMKilled" }, "Failed");
    finishJob(
      jobName,
      "Failed",
      "BackoffLimitExceeded",
      "Job has reached the specified backoff limit",
    );
    const failure = await running;
    expect(failure).toBeInstanceOf(BuildFailure);
    expect(failure).toMatchObject({
      reason: "OutOfMemoryKilled",
      message:
        "the build container ran out of memory (limit 512Mi): raise spec.resources.limits.memory",
    });
    // A Job that ended by itself is kept for kubectl until its TTL.
    expect(kube.get("Job", buildNamespace, jobName)).toBeDefined();
  });

  test("a Job past its activeDeadlineSeconds ends DeadlineExceeded", async () => {
    const { podOf } = jobController();
    const running = kubeEngine(kube)
      .run(
        buildJob({ completionDeadlineSeconds: 42 }),
        recordingSink(),
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    const jobName = await createdJob();
    expect(postedJob(kube).spec?.activeDeadlineSeconds).toBe(42);
    await eventually(() => kube.get("Pod", buildNamespace, podOf(jobName)));
    setContainer(podOf(jobName), "fetch", { running: { startedAt: now() } });
    // The Job controller: past the deadline it deletes the pod and fails the Job.
    kube.delete("Pod", buildNamespace, podOf(jobName));
    finishJob(
      jobName,
      "Failed",
      "DeadlineExceeded",
      "Job was active longer than specified deadline",
    );
    expect(await running).toMatchObject({
      reason: "DeadlineExceeded",
      message: "build exceeded completionDeadlineSeconds (42 s)",
    });
  });

  test("a pod no node can take fails the build CannotCreateBuildPod after the start timeout, and its Job is deleted", async () => {
    const { podOf } = jobController();
    const running = kubeEngine(kube, { podStartTimeoutMs: 1500 })
      .run(
        buildJob({ nodeSelector: { "kiln.dev/pool": "builders" } }),
        recordingSink(),
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    const jobName = await createdJob();
    await eventually(() => kube.get("Pod", buildNamespace, podOf(jobName)));
    kube.update<V1Pod>("Pod", buildNamespace, podOf(jobName), (p) => {
      p.status = {
        ...p.status,
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message:
              "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
          },
        ],
      };
    });
    const failure = await running;
    expect(failure).toMatchObject({ reason: "CannotCreateBuildPod" });
    expect((failure as Error).message).toBe(
      "the build pod cannot be scheduled: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. within 2 s",
    );
    expect(kube.get("Job", buildNamespace, jobName)).toBeUndefined();
  });

  test("a Job the cluster refuses (a quota) fails the build CannotCreateBuildPod with the API server's word, and leaves nothing", async () => {
    kube.failNext({
      method: "POST",
      path: `/apis/batch/v1/namespaces/${buildNamespace}/jobs`,
      status: 403,
      reason: "Forbidden",
      message:
        'jobs.batch "x" is forbidden: exceeded quota: builds, requested: count/jobs.batch=1, used: count/jobs.batch=10, limited: count/jobs.batch=10',
    });
    const failure = await kubeEngine(kube)
      .run(
        buildJob({}, { credentials: { push: '{"auths":{}}' } }),
        recordingSink(),
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BuildFailure);
    expect(failure).toMatchObject({ reason: "CannotCreateBuildPod" });
    expect((failure as Error).message).toContain("exceeded quota: builds");
    expect(kube.list("Job", buildNamespace)).toEqual([]);
    expect(kube.list("Secret", buildNamespace)).toEqual([]);
  });

  test("a Secret the cluster refuses deletes the Job it was for", async () => {
    jobController();
    kube.failNext({
      method: "POST",
      path: `/api/v1/namespaces/${buildNamespace}/secrets`,
      status: 422,
      reason: "Invalid",
      message: 'Secret "x" is invalid',
    });
    const failure = await kubeEngine(kube)
      .run(
        buildJob({}, { credentials: { pull: '{"auths":{}}' } }),
        recordingSink(),
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ reason: "CannotCreateBuildPod" });
    expect(kube.list("Job", buildNamespace)).toEqual([]);
    expect(kube.list("Pod", buildNamespace)).toEqual([]);
  });

  test("an API server that fails for a while is waited out, one that keeps failing ends the build with a KubeApiError and deletes its Job", async () => {
    const { podOf } = jobController();
    const job = buildJob({});
    kube.failNext({
      method: "GET",
      path: /\/apis\/batch\/v1\/namespaces\/kiln-builds\/jobs\/kiln-/,
      status: 503,
      reason: "ServiceUnavailable",
      message: "etcd leader changed",
      times: 3,
    });
    const running = kubeEngine(kube, { apiOutageMs: 60_000 }).run(
      job,
      recordingSink(),
      new AbortController().signal,
    );
    const jobName = await createdJob();
    const pod = podOf(jobName);
    await eventually(() => kube.get("Pod", buildNamespace, pod));
    await eventually(() => kube.requests.filter((r) => r.status === 503).length === 3);
    terminate(pod, "fetch", {
      exitCode: 0,
      message: encodeStepReport({ v: 1, step: "fetch", revision: null }),
    });
    terminate(
      pod,
      "build",
      { exitCode: 0, message: encodeStepReport({ v: 1, step: "build", output: null }) },
      "Succeeded",
    );
    finishJob(jobName, "Complete", "CompletionsReached");
    expect(await running).toBeNull();

    kube.clearRequests();
    kube.failNext({
      method: "GET",
      path: /\/apis\/batch\/v1\/namespaces\/kiln-builds\/jobs\/kiln-/,
      status: 500,
      reason: "InternalError",
      message: "boom",
      times: 1000,
    });
    const failure = await kubeEngine(kube, { apiOutageMs: 500 })
      .run(buildJob({}), recordingSink(), new AbortController().signal)
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KubeApiError);
    expect(failure).toMatchObject({ status: 500, reason: "KubeApiFailed" });
    expect(kube.requests.some((r) => r.method === "DELETE" && r.path.includes("/jobs/"))).toBe(
      true,
    );
  });

  test("a redelivered build deletes the Job of its earlier attempt before it starts its own", async () => {
    const { podOf } = jobController();
    const job = buildJob({});
    const first = new AbortController();
    // A runner that died: its Job stays (we stop following it without deleting it by aborting
    // a run whose Job the test recreates below).
    const stale: V1Job = {
      ...postedJobFor(job.id),
      metadata: {
        name: "kiln-default-stale-abcde",
        namespace: buildNamespace,
        labels: { [KubeLabel.BuildId]: job.id, [KubeLabel.Job]: "kiln-default-stale-abcde" },
      },
    };
    kube.create(stale);
    await eventually(() => kube.get("Pod", buildNamespace, podOf("kiln-default-stale-abcde")));
    const sink = recordingSink();
    const running = kubeEngine(kube)
      .run(job, sink, first.signal)
      .catch((e: unknown) => e);
    await eventually(() =>
      kube
        .list<V1Job>("Job", buildNamespace)
        .find((j) => j.metadata?.name !== "kiln-default-stale-abcde"),
    );
    expect(kube.get("Job", buildNamespace, "kiln-default-stale-abcde")).toBeUndefined();
    expect(kube.get("Pod", buildNamespace, podOf("kiln-default-stale-abcde"))).toBeUndefined();
    expect(sink.lines[0]).toBe(
      `Deleted Job ${buildNamespace}/kiln-default-stale-abcde of an earlier attempt`,
    );
    first.abort(new Error("stop"));
    await running;
  });

  test("a Job deleted by someone else ends the build BuildPodEvicted", async () => {
    jobController();
    const running = kubeEngine(kube)
      .run(buildJob({}), recordingSink(), new AbortController().signal)
      .catch((e: unknown) => e);
    const jobName = await createdJob();
    kube.delete("Job", buildNamespace, jobName, { propagationPolicy: "Background" });
    expect(await running).toMatchObject({
      reason: "BuildPodEvicted",
      message: `the build's Job ${jobName} was deleted by someone else`,
    });
  });

  test("cancelling before the pod started deletes the Job with Background propagation and the per-build Secret, and throws the abort reason", async () => {
    const { podOf } = jobController();
    const controller = new AbortController();
    const running = kubeEngine(kube)
      .run(
        buildJob(
          {},
          {
            credentials: {
              pull: '{"auths":{"r":{"auth":"eDp5"}}}',
              push: '{"auths":{"r":{"auth":"eDp5"}}}',
            },
          },
        ),
        recordingSink(),
        controller.signal,
      )
      .catch((e: unknown) => e);
    const jobName = await createdJob();
    await eventually(
      () =>
        kube.list("Secret", buildNamespace).length === 2 &&
        kube.get("Pod", buildNamespace, podOf(jobName)),
    );
    const reason = new BuildFailure("CancelledBuild", "cancelled by a user");
    controller.abort(reason);
    expect(await running).toBe(reason);
    const deletion = kube.requests.find(
      (r) =>
        r.method === "DELETE" &&
        r.path === `/apis/batch/v1/namespaces/${buildNamespace}/jobs/${jobName}`,
    );
    expect(
      deletion?.query.propagationPolicy ??
        (deletion?.body as { propagationPolicy?: string }).propagationPolicy,
    ).toBe("Background");
    expect(kube.list("Job", buildNamespace)).toEqual([]);
    expect(kube.list("Pod", buildNamespace)).toEqual([]);
    expect(kube.list("Secret", buildNamespace)).toEqual([]);
  });
});

/** A Job like the engine's, for the earlier-attempt case. */
function postedJobFor(buildId: string): V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { namespace: buildNamespace, labels: { [KubeLabel.BuildId]: buildId } },
    spec: {
      template: {
        spec: {
          restartPolicy: "Never",
          initContainers: [{ name: "fetch", image: "kiln" }],
          containers: [{ name: "build", image: "kiln" }],
        },
      },
    },
  };
}
