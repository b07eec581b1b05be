import { assertNever } from "../assert-never.js";

/**
 * Phases of a deploy record (`deploys.status`, `status.phase` on the wire): one image change
 * rolled out to one target. The words are OpenShift's (a DeploymentConfig's deployment phases)
 * plus two Kiln needs: `Rolling` (patched; the workload's controller is rolling it out) and
 * `Skipped` (nothing was changed, and the reason says why).
 * Pending → Rolling → Complete | Failed | Cancelled; Pending → Skipped | Failed | Complete.
 */
export const DeployPhase = {
  /** Recorded; the target has not been changed yet. */
  Pending: "Pending",
  /** The workload was patched; its rollout is being followed. */
  Rolling: "Rolling",
  /** The rollout finished (every replica updated and available), or the HTTP target answered 2xx. */
  Complete: "Complete",
  /** The deploy could not be made or the rollout did not finish; `reason` says which. */
  Failed: "Failed",
  /** Nothing to do: the trigger is paused, the workload already runs that image, a newer image came. */
  Skipped: "Skipped",
  /** A newer deploy of the same workload started before this rollout finished. */
  Cancelled: "Cancelled",
} as const;
export type DeployPhase = (typeof DeployPhase)[keyof typeof DeployPhase];

export const deployPhases = Object.values(DeployPhase) as [DeployPhase, ...DeployPhase[]];

export function isTerminalDeployPhase(phase: DeployPhase): boolean {
  switch (phase) {
    case "Pending":
    case "Rolling":
      return false;
    case "Complete":
    case "Failed":
    case "Skipped":
    case "Cancelled":
      return true;
    default:
      return assertNever(phase, "deploy phase");
  }
}

/**
 * One-word reasons on a deploy (`deploys.reason`), for Failed, Skipped and Cancelled. Never
 * branch on a message: branch on these.
 */
export const DeployReason = {
  /** The `kiln.dev/triggers` / `image.openshift.io/triggers` annotation is not valid trigger JSON. */
  InvalidTriggerAnnotation: "InvalidTriggerAnnotation",
  /** A trigger's fieldPath names no container of the workload. */
  FieldPathNotFound: "FieldPathNotFound",
  /** The workload was deleted before it could be patched or while it rolled out. */
  WorkloadNotFound: "WorkloadNotFound",
  /** The Deployment's own `progressDeadlineSeconds` passed (its Progressing condition says so). */
  ProgressDeadlineExceeded: "ProgressDeadlineExceeded",
  /** The rollout did not finish within the deployer's deadline (DEPLOYER_ROLLOUT_DEADLINE_MS). */
  DeadlineExceeded: "DeadlineExceeded",
  /** The Kubernetes API refused the patch (not a conflict: those are retried). */
  PatchRejected: "PatchRejected",
  /** The generic HTTP target did not answer 2xx after every retry. */
  HttpTargetFailed: "HttpTargetFailed",
  /** Skipped: every trigger of the workload for that tag is paused. */
  Paused: "Paused",
  /** Skipped: the workload already runs that image. */
  AlreadyCurrent: "AlreadyCurrent",
  /** Skipped or Cancelled: the tag moved on to a newer image first. */
  Superseded: "Superseded",
} as const;
export type DeployReason = (typeof DeployReason)[keyof typeof DeployReason];

export const deployReasons = Object.values(DeployReason) as [DeployReason, ...DeployReason[]];
