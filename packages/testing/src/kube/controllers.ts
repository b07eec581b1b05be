/**
 * Stand-ins for the controllers of a real cluster, driven by the test (see ./README.md). They
 * write only what the real controllers write to the fields Kiln reads; nothing runs.
 */
import type { KubeObject } from "./resources.js";
import type { StandInApiServer } from "./stand-in-api-server.js";

/**
 * What a rollout does once the controller sees a new generation:
 * - `Available`: every replica updated, ready and available (Progressing: NewReplicaSetAvailable).
 * - `NeverAvailable`: every replica updated, none ready or available; Progressing stays True.
 * - `ProgressDeadlineExceeded`: like NeverAvailable, and a Deployment's Progressing condition
 *   turns False with reason ProgressDeadlineExceeded (at once: the test stands for the deadline).
 * - `Ignore`: the controller writes nothing (observedGeneration stays behind).
 */
export const RolloutBehaviour = {
  Available: "Available",
  NeverAvailable: "NeverAvailable",
  ProgressDeadlineExceeded: "ProgressDeadlineExceeded",
  Ignore: "Ignore",
} as const;
export type RolloutBehaviour = (typeof RolloutBehaviour)[keyof typeof RolloutBehaviour];

export type RolloutControllerOptions = {
  /** Kinds to handle. @default ["Deployment", "StatefulSet", "DaemonSet"] */
  kinds?: readonly ("Deployment" | "StatefulSet" | "DaemonSet")[];
  /** One behaviour for all, or per object. @default "Available" */
  behaviour?: RolloutBehaviour | ((object: KubeObject) => RolloutBehaviour);
  /** Wait before writing the status, as a real rollout takes time. @default 0 */
  delayMs?: number;
  /** Nodes a DaemonSet runs on. @default 1 */
  nodes?: number;
};

type Condition = {
  type: string;
  status: "True" | "False";
  reason: string;
  message: string;
  lastUpdateTime: string;
  lastTransitionTime: string;
};

function condition(type: string, ok: boolean, reason: string, message: string): Condition {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    type,
    status: ok ? "True" : "False",
    reason,
    message,
    lastUpdateTime: now,
    lastTransitionTime: now,
  };
}

/** The status a real controller would write for `object` at its current generation. */
export function rolloutStatus(
  object: KubeObject,
  behaviour: Exclude<RolloutBehaviour, "Ignore">,
  nodes = 1,
): Record<string, unknown> {
  const generation = object.metadata.generation ?? 1;
  const spec = (object.spec ?? {}) as { replicas?: number };
  const name = object.metadata.name ?? "";
  const available = behaviour === RolloutBehaviour.Available;
  switch (object.kind) {
    case "Deployment": {
      const replicas = spec.replicas ?? 1;
      const ready = available ? replicas : 0;
      const progressing =
        behaviour === RolloutBehaviour.ProgressDeadlineExceeded
          ? condition(
              "Progressing",
              false,
              "ProgressDeadlineExceeded",
              `ReplicaSet "${name}-7d4b9c8f5" has timed out progressing.`,
            )
          : available
            ? condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                `ReplicaSet "${name}-7d4b9c8f5" has successfully progressed.`,
              )
            : condition(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                `ReplicaSet "${name}-7d4b9c8f5" is progressing.`,
              );
      return {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: ready,
        availableReplicas: ready,
        ...(available ? {} : { unavailableReplicas: replicas }),
        conditions: [
          available
            ? condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
              )
            : condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
              ),
          progressing,
        ],
      };
    }
    case "StatefulSet": {
      const replicas = spec.replicas ?? 1;
      const ready = available ? replicas : 0;
      const revision = `${name}-${generation}`;
      return {
        observedGeneration: generation,
        replicas,
        readyReplicas: ready,
        availableReplicas: ready,
        currentReplicas: replicas,
        updatedReplicas: replicas,
        currentRevision: revision,
        updateRevision: revision,
      };
    }
    case "DaemonSet": {
      const ready = available ? nodes : 0;
      return {
        observedGeneration: generation,
        desiredNumberScheduled: nodes,
        currentNumberScheduled: nodes,
        updatedNumberScheduled: nodes,
        numberMisscheduled: 0,
        numberReady: ready,
        numberAvailable: ready,
        ...(available ? {} : { numberUnavailable: nodes }),
      };
    }
    default:
      throw new Error(`no rollout status for kind ${String(object.kind)}`);
  }
}

/**
 * Turns on a rollout controller: whenever a Deployment/StatefulSet/DaemonSet is created or its
 * generation moves past status.observedGeneration, it writes the status `behaviour` says.
 * Returns a function that turns it off.
 */
export function enableRolloutController(
  api: StandInApiServer,
  options: RolloutControllerOptions = {},
): () => void {
  const kinds = options.kinds ?? ["Deployment", "StatefulSet", "DaemonSet"];
  const pick =
    typeof options.behaviour === "function"
      ? options.behaviour
      : () => (options.behaviour as RolloutBehaviour | undefined) ?? RolloutBehaviour.Available;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const reconcile = (object: KubeObject) => {
    const status = (object.status ?? {}) as { observedGeneration?: number };
    if (
      status.observedGeneration !== undefined &&
      status.observedGeneration >= (object.metadata.generation ?? 1)
    )
      return;
    const behaviour = pick(object);
    if (behaviour === RolloutBehaviour.Ignore) return;
    const write = () => {
      if (stopped) return;
      const { kind, metadata } = object;
      const current = api.get(kind!, metadata.namespace!, metadata.name!);
      // A newer generation arrived meanwhile: its own reconcile writes the status.
      if (!current || current.metadata.generation !== metadata.generation) return;
      api.update(kind!, metadata.namespace!, metadata.name!, (o) => {
        o.status = rolloutStatus(o, behaviour, options.nodes);
      });
    };
    if ((options.delayMs ?? 0) <= 0) write();
    else {
      const timer = setTimeout(() => {
        timers.delete(timer);
        write();
      }, options.delayMs);
      timers.add(timer);
    }
  };
  const unsubscribe = kinds.flatMap((kind) => [
    api.onCreate(kind, reconcile),
    api.onUpdate(kind, reconcile),
  ]);
  return () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    for (const off of unsubscribe) off();
  };
}

/**
 * The pod a Job controller would make for `job`: its template, named `<job>-<suffix>`, with the
 * labels (`job-name`, `batch.kubernetes.io/job-name`, `controller-uid`) and the controller
 * ownerReference the real one sets. Status as given (default: Pending); create it with
 * `api.create(podFromJob(job))`.
 */
export function podFromJob(
  job: KubeObject,
  options: { suffix?: string; status?: Record<string, unknown> } = {},
): KubeObject {
  const name = job.metadata.name!;
  const uid = job.metadata.uid!;
  const template =
    (
      (job.spec ?? {}) as {
        template?: {
          metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
          spec?: unknown;
        };
      }
    ).template ?? {};
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${name}-${options.suffix ?? "x7k2p"}`,
      namespace: job.metadata.namespace!,
      labels: {
        ...(template.metadata?.labels ?? {}),
        "job-name": name,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "batch.kubernetes.io/controller-uid": uid,
      },
      ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: structuredClone(template.spec ?? {}),
    status: options.status ?? { phase: "Pending" },
  };
}
