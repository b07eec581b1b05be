import { assertNever } from "../assert-never.js";
import { DeployReason } from "./deploy-phase.js";
import type { WorkloadObject } from "./workload.js";

/** Where a rollout stands, read from the workload's status. */
export type RolloutState =
  | { phase: "Rolling"; message: string }
  | { phase: "Complete"; message: string }
  | { phase: "Failed"; reason: DeployReason; message: string };

type Condition = { type?: string; status?: string; reason?: string; message?: string };
type Num = number | undefined;

/**
 * The state of a workload's rollout of the generation `generation` (the one the deploy's patch
 * made), by the rules `kubectl rollout status` uses:
 * - Deployment: the controller observed that generation; updatedReplicas reached spec.replicas;
 *   no old replicas are left (status.replicas == updatedReplicas); availableReplicas reached
 *   updatedReplicas. A Progressing condition with reason ProgressDeadlineExceeded fails it.
 * - StatefulSet (RollingUpdate): observed; readyReplicas reached spec.replicas; with a partition,
 *   updatedReplicas reached replicas − partition, else currentRevision == updateRevision.
 * - DaemonSet (RollingUpdate): observed; updatedNumberScheduled and numberAvailable reached
 *   desiredNumberScheduled.
 * - CronJob: nothing rolls out until its next run; the patched spec is the deploy: Complete.
 * An OnDelete StatefulSet/DaemonSet is Complete once patched: nothing updates its pods but a delete.
 */
export function rolloutState(workload: WorkloadObject, generation: number): RolloutState {
  const spec = (workload.spec ?? {}) as {
    replicas?: number;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  const status = (workload.status ?? {}) as Record<string, unknown> & {
    observedGeneration?: number;
    conditions?: Condition[];
  };
  const observed = status.observedGeneration ?? 0;
  const n = (key: string): Num =>
    typeof status[key] === "number" ? (status[key] as number) : undefined;
  const waiting = (message: string): RolloutState => ({ phase: "Rolling", message });
  switch (workload.kind) {
    case "CronJob":
      return { phase: "Complete", message: "the CronJob's next run uses the new image" };
    case "Deployment": {
      if (observed < generation)
        return waiting(`waiting for the deployment controller to observe generation ${generation}`);
      const progressing = status.conditions?.find((c) => c.type === "Progressing");
      if (progressing?.reason === "ProgressDeadlineExceeded") {
        return {
          phase: "Failed",
          reason: DeployReason.ProgressDeadlineExceeded,
          message: progressing.message ?? "the deployment exceeded its progress deadline",
        };
      }
      const want = spec.replicas ?? 1;
      const updated = n("updatedReplicas") ?? 0;
      const replicas = n("replicas") ?? 0;
      const available = n("availableReplicas") ?? 0;
      if (updated < want) return waiting(`${updated} of ${want} new replicas have been updated`);
      if (replicas > updated)
        return waiting(`${replicas - updated} old replicas are pending termination`);
      if (available < updated)
        return waiting(`${available} of ${updated} updated replicas are available`);
      return {
        phase: "Complete",
        message: `${available} of ${want} replicas updated and available`,
      };
    }
    case "StatefulSet": {
      if (spec.updateStrategy?.type === "OnDelete")
        return {
          phase: "Complete",
          message: "OnDelete: pods take the new image when they are deleted",
        };
      if (observed < generation)
        return waiting(
          `waiting for the statefulset controller to observe generation ${generation}`,
        );
      const want = spec.replicas ?? 1;
      const ready = n("readyReplicas") ?? 0;
      if (ready < want) return waiting(`${ready} of ${want} pods are ready`);
      const partition = spec.updateStrategy?.rollingUpdate?.partition;
      if (partition !== undefined && partition > 0) {
        const updated = n("updatedReplicas") ?? 0;
        if (updated < want - partition)
          return waiting(`${updated} of ${want - partition} pods above the partition are updated`);
        return { phase: "Complete", message: `partitioned rollout: ${updated} pods updated` };
      }
      if (status.updateRevision !== status.currentRevision)
        return waiting(
          `waiting for the update to revision ${String(status.updateRevision)} to finish`,
        );
      return {
        phase: "Complete",
        message: `${ready} of ${want} pods at revision ${String(status.currentRevision)}`,
      };
    }
    case "DaemonSet": {
      if (spec.updateStrategy?.type === "OnDelete")
        return {
          phase: "Complete",
          message: "OnDelete: pods take the new image when they are deleted",
        };
      if (observed < generation)
        return waiting(`waiting for the daemonset controller to observe generation ${generation}`);
      const desired = n("desiredNumberScheduled") ?? 0;
      const updated = n("updatedNumberScheduled") ?? 0;
      const available = n("numberAvailable") ?? 0;
      if (updated < desired) return waiting(`${updated} of ${desired} updated pods are scheduled`);
      if (available < desired)
        return waiting(`${available} of ${desired} updated pods are available`);
      return {
        phase: "Complete",
        message: `${available} of ${desired} pods updated and available`,
      };
    }
    default:
      return assertNever(workload.kind, "workload kind");
  }
}
