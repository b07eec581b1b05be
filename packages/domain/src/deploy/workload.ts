/**
 * The Kubernetes workloads the deployer rolls out, as plain JSON (what the API server returns):
 * the domain reads them without a Kubernetes client.
 */

/** Kinds whose pod template the deployer patches. */
export const WorkloadKind = {
  Deployment: "Deployment",
  StatefulSet: "StatefulSet",
  DaemonSet: "DaemonSet",
  CronJob: "CronJob",
} as const;
export type WorkloadKind = (typeof WorkloadKind)[keyof typeof WorkloadKind];

export const workloadKinds = Object.values(WorkloadKind) as [WorkloadKind, ...WorkloadKind[]];

/** The fields of a workload the deployer reads; everything else is carried along untouched. */
export interface WorkloadObject {
  kind: WorkloadKind;
  metadata: {
    namespace: string;
    name: string;
    /** Opaque version the patch is made against (a stale one makes the API server answer 409). */
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: unknown;
}

/** Where each kind keeps its pod spec: `spec.template.spec`, a CronJob's one level deeper. */
export const podSpecPath: Readonly<Record<WorkloadKind, readonly string[]>> = {
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

/** `Deployment/apps/web`: a workload's identity in logs, deploy records and the trigger index. */
export function workloadKey(kind: WorkloadKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** A container of a pod spec (only the fields the deployer reads or writes). */
export interface ContainerLike {
  name: string;
  image?: string;
}

/** The pod spec of a workload, or undefined when the object has none (a malformed object). */
export function podSpecOf(
  workload: WorkloadObject,
): { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined {
  let node: unknown = workload;
  for (const key of podSpecPath[workload.kind]) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === "object" && node !== null
    ? (node as { containers?: ContainerLike[]; initContainers?: ContainerLike[] })
    : undefined;
}
