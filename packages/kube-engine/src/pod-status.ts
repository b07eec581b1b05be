import type { V1ContainerStatus, V1Job, V1Pod } from "@kubernetes/client-node";
import { BuildFailure, FailureReason } from "@kiln/domain";
import { ContainerName, parseStepReport, type StepReport } from "./termination.js";

/**
 * Reading a build's Job and pod, as pure functions of their status: where the build is, how
 * it ended, and which `BuildFailure` a failed one becomes.
 */

/** The status of one of the build pod's containers (the fetch container is an init container). */
export function containerStatus(
  pod: V1Pod | undefined,
  container: ContainerName,
): V1ContainerStatus | undefined {
  const statuses =
    container === ContainerName.Fetch
      ? pod?.status?.initContainerStatuses
      : pod?.status?.containerStatuses;
  return statuses?.find((s) => s.name === container);
}

/** Whether the container has started (its log can be read): running, or already terminated. */
export function hasStarted(status: V1ContainerStatus | undefined): boolean {
  return Boolean(status?.state?.running || status?.state?.terminated);
}

/** The container's report, once it terminated and wrote one. */
export function stepReportOf(pod: V1Pod | undefined, container: ContainerName): StepReport | null {
  return parseStepReport(containerStatus(pod, container)?.state?.terminated?.message);
}

export type JobOutcome = "Running" | "Complete" | "Failed";

/** `Complete` or `Failed` by the Job's conditions (`FailureTarget` counts as failed: the pod is being stopped). */
export function jobOutcome(job: V1Job): JobOutcome {
  const conditions = job.status?.conditions ?? [];
  const isTrue = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
  if (isTrue("Complete") || isTrue("SuccessCriteriaMet")) return "Complete";
  if (isTrue("Failed") || isTrue("FailureTarget")) return "Failed";
  return "Running";
}

/**
 * Why a build pod has not started, when it is stuck for a reason that will not pass by itself
 * soon: unschedulable (a nodeSelector no node matches, requests no node can meet) or the Kiln
 * image cannot be pulled. Null while it is merely on its way.
 */
export function podNotStartingReason(pod: V1Pod | undefined): string | null {
  if (!pod) return null;
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
  );
  if (unschedulable)
    return `the build pod cannot be scheduled: ${unschedulable.message ?? "no node fits"}`;
  for (const status of [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ]) {
    const waiting = status.state?.waiting;
    if (
      waiting?.reason &&
      [
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
      ].includes(waiting.reason)
    ) {
      return `the ${status.name} container cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
    }
  }
  return null;
}

/**
 * The failure of a Job that ended Failed, with the reason a user can act on:
 * - the Job's deadline (`activeDeadlineSeconds`, from `completionDeadlineSeconds`): DeadlineExceeded;
 * - a step that reported its failure (the local engine's own reasons: FetchSourceFailed,
 *   DockerBuildFailed, PushFailed, …): that report;
 * - a container killed for memory: OutOfMemoryKilled; an evicted pod: BuildPodEvicted;
 * - anything else: the container's exit, as an InternalError (the step command died without a word).
 */
export function failureOf(job: V1Job, pod: V1Pod | undefined): BuildFailure {
  const failed = job.status?.conditions?.find(
    (c) => (c.type === "Failed" || c.type === "FailureTarget") && c.status === "True",
  );
  if (failed?.reason === "DeadlineExceeded") {
    const deadline = job.spec?.activeDeadlineSeconds;
    return new BuildFailure(
      FailureReason.DeadlineExceeded,
      `build exceeded completionDeadlineSeconds${deadline ? ` (${deadline} s)` : ""}`,
    );
  }
  if (pod?.status?.reason === "Evicted") {
    return new BuildFailure(
      FailureReason.BuildPodEvicted,
      `the build pod was evicted: ${pod.status.message ?? "no message"}`,
    );
  }
  for (const name of [ContainerName.Fetch, ContainerName.Build]) {
    const terminated = containerStatus(pod, name)?.state?.terminated;
    if (!terminated || terminated.exitCode === 0) continue;
    const report = parseStepReport(terminated.message);
    if (report && "failure" in report)
      return new BuildFailure(report.failure.reason, report.failure.message);
    if (terminated.reason === "OOMKilled") {
      const limit = pod?.spec?.[
        name === ContainerName.Fetch ? "initContainers" : "containers"
      ]?.find((c) => c.name === name)?.resources?.limits?.memory;
      return new BuildFailure(
        FailureReason.OutOfMemoryKilled,
        `the ${name} container ran out of memory${limit ? ` (limit ${limit})` : ""}: raise spec.resources.limits.memory`,
      );
    }
    return new BuildFailure(
      FailureReason.InternalError,
      `the ${name} container exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ""} without saying why`,
    );
  }
  if (!pod) {
    return new BuildFailure(
      FailureReason.BuildPodEvicted,
      `the build pod is gone: ${failed?.message ?? failed?.reason ?? "the Job failed"}`,
    );
  }
  return new BuildFailure(
    FailureReason.InternalError,
    `the build's Job failed: ${failed?.reason ?? "no reason"}${failed?.message ? `: ${failed.message}` : ""}`,
  );
}
