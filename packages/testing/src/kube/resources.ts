/**
 * The resources the stand-in Kubernetes API server knows (see ./README.md). Each is served at
 * the path the real API server uses and behaves like it where the table says so.
 */

/** A Kubernetes object as JSON (what the API server stores and returns). */
export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: KubeObjectMeta;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
};

export type KubeObjectMeta = {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  [key: string]: unknown;
};

export type ResourceDef = {
  /** API group; "" is the core group (`/api/v1`). */
  group: "" | "apps" | "batch";
  version: "v1";
  /** URL segment: `deployments`. */
  plural: string;
  kind: string;
  /**
   * Whether `status` is a subresource: writes to the main resource keep the stored status, and
   * only `/status` changes it (as for the real workload kinds and pods).
   */
  statusSubresource: boolean;
  /** Whether `metadata.generation` is kept and bumped when `spec` changes. */
  generation: boolean;
  /**
   * What a DELETE without `propagationPolicy` does to dependents. The real server orphans a
   * batch/v1 Job's pods unless told otherwise (kept for backward compatibility; kubectl sends
   * Background), and garbage-collects in the background for the rest.
   */
  defaultPropagation: "Orphan" | "Background";
  /** Field selectors the real server accepts besides metadata.name and metadata.namespace. */
  fieldLabels: readonly string[];
  shortNames: readonly string[];
  verbs: readonly string[];
};

const allVerbs = [
  "create",
  "delete",
  "deletecollection",
  "get",
  "list",
  "patch",
  "update",
  "watch",
] as const;

export const resources: readonly ResourceDef[] = [
  {
    group: "apps",
    version: "v1",
    plural: "deployments",
    kind: "Deployment",
    statusSubresource: true,
    generation: true,
    defaultPropagation: "Background",
    fieldLabels: [],
    shortNames: ["deploy"],
    verbs: allVerbs,
  },
  {
    group: "apps",
    version: "v1",
    plural: "statefulsets",
    kind: "StatefulSet",
    statusSubresource: true,
    generation: true,
    defaultPropagation: "Background",
    fieldLabels: [],
    shortNames: ["sts"],
    verbs: allVerbs,
  },
  {
    group: "apps",
    version: "v1",
    plural: "daemonsets",
    kind: "DaemonSet",
    statusSubresource: true,
    generation: true,
    defaultPropagation: "Background",
    fieldLabels: [],
    shortNames: ["ds"],
    verbs: allVerbs,
  },
  {
    group: "batch",
    version: "v1",
    plural: "cronjobs",
    kind: "CronJob",
    statusSubresource: true,
    generation: true,
    defaultPropagation: "Background",
    fieldLabels: [],
    shortNames: ["cj"],
    verbs: allVerbs,
  },
  {
    group: "batch",
    version: "v1",
    plural: "jobs",
    kind: "Job",
    statusSubresource: true,
    generation: true,
    defaultPropagation: "Orphan",
    fieldLabels: ["status.successful"],
    shortNames: [],
    verbs: allVerbs,
  },
  {
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
    statusSubresource: true,
    generation: false,
    defaultPropagation: "Background",
    fieldLabels: [
      "spec.nodeName",
      "spec.restartPolicy",
      "spec.schedulerName",
      "spec.serviceAccountName",
      "status.phase",
      "status.podIP",
      "status.nominatedNodeName",
    ],
    shortNames: ["po"],
    verbs: allVerbs,
  },
  {
    group: "",
    version: "v1",
    plural: "secrets",
    kind: "Secret",
    statusSubresource: false,
    generation: false,
    defaultPropagation: "Background",
    fieldLabels: ["type"],
    shortNames: [],
    verbs: allVerbs,
  },
  {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
    statusSubresource: false,
    generation: false,
    defaultPropagation: "Background",
    fieldLabels: [],
    shortNames: ["cm"],
    verbs: allVerbs,
  },
];

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(def: ResourceDef): string {
  return def.group === "" ? def.version : `${def.group}/${def.version}`;
}

/** `deployments.apps`, `pods`: how the real server names a resource in its messages. */
export function qualifiedName(def: ResourceDef): string {
  return def.group === "" ? def.plural : `${def.plural}.${def.group}`;
}

export function resourceByKind(kind: string): ResourceDef {
  const def = resources.find((r) => r.kind === kind || r.plural === kind);
  if (!def)
    throw new Error(
      `the stand-in API server does not serve kind ${kind} (serves ${resources.map((r) => r.kind).join(", ")})`,
    );
  return def;
}

export function resourceByPath(
  group: string,
  version: string,
  plural: string,
): ResourceDef | undefined {
  return resources.find((r) => r.group === group && r.version === version && r.plural === plural);
}
