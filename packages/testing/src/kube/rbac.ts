/**
 * Authentication by bearer token and RBAC authorization for the stand-in API server, evaluated
 * the way the real server's RBAC authorizer does (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac):
 * a namespaced request is allowed by a ClusterRoleBinding or by a RoleBinding of its namespace,
 * a cluster-scoped one only by a ClusterRoleBinding; a rule matches when its verbs, apiGroups,
 * resources (`pods/log` for a subresource, `*` anywhere) and resourceNames all do; ClusterRoles
 * with an `aggregationRule` hold the rules of the ClusterRoles their label selectors pick.
 * Role objects are kept here, not served over HTTP: tests put them in with `apply`.
 */
import type { KubeObject } from "./resources.js";

/** Who a token authenticates as (`user` of a TokenReview's status). */
export type UserInfo = { username: string; uid?: string; groups?: string[] };

/** `spec.resourceAttributes` of a SubjectAccessReview. */
export type ResourceAttributes = {
  namespace?: string;
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  name?: string;
};

export type Decision = { allowed: boolean; reason: string };

type PolicyRule = {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
};
type RoleRef = { apiGroup?: string; kind: "Role" | "ClusterRole"; name: string };
type RbacSubject = { kind: "User" | "Group" | "ServiceAccount"; name: string; namespace?: string };
type RbacObject = KubeObject & {
  rules?: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors?: { matchLabels?: Record<string, string> }[] };
  roleRef?: RoleRef;
  subjects?: RbacSubject[];
};

const rbacKinds = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"] as const;
type RbacKind = (typeof rbacKinds)[number];
const clusterScoped = (kind: RbacKind) => kind === "ClusterRole" || kind === "ClusterRoleBinding";

const aggregateTo = (role: "admin" | "edit" | "view") => ({
  [`rbac.authorization.k8s.io/aggregate-to-${role}`]: "true",
});
const read = ["get", "list", "watch"];
const write = ["create", "delete", "deletecollection", "patch", "update"];

/**
 * The default roles a fresh cluster has that tests lean on: `cluster-admin` bound to
 * `system:masters`, the aggregated `admin`/`edit`/`view` (with a small part of their real rules),
 * and `system:auth-delegator`.
 */
export const defaultRbacObjects: readonly RbacObject[] = [
  clusterRole("cluster-admin", [
    { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
    { nonResourceURLs: ["*"], verbs: ["*"] },
  ]),
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "cluster-admin" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    subjects: [{ kind: "Group", name: "system:masters" }],
  },
  aggregated("admin", "admin"),
  aggregated("edit", "edit", aggregateTo("admin")),
  aggregated("view", "view", { ...aggregateTo("edit"), ...aggregateTo("admin") }),
  clusterRole(
    "system:aggregate-to-admin",
    [
      {
        apiGroups: ["rbac.authorization.k8s.io"],
        resources: ["rolebindings", "roles"],
        verbs: [...read, ...write],
      },
    ],
    aggregateTo("admin"),
  ),
  clusterRole(
    "system:aggregate-to-edit",
    [
      { apiGroups: [""], resources: ["pods", "configmaps", "secrets", "services"], verbs: write },
      {
        apiGroups: ["apps"],
        resources: ["deployments", "statefulsets", "daemonsets"],
        verbs: write,
      },
      { apiGroups: [""], resources: ["secrets"], verbs: read },
    ],
    aggregateTo("edit"),
  ),
  clusterRole(
    "system:aggregate-to-view",
    [
      { apiGroups: [""], resources: ["pods", "pods/log", "configmaps", "services"], verbs: read },
      {
        apiGroups: ["apps"],
        resources: ["deployments", "statefulsets", "daemonsets"],
        verbs: read,
      },
    ],
    aggregateTo("view"),
  ),
  clusterRole("system:auth-delegator", [
    { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
  ]),
];

function clusterRole(
  name: string,
  rules: PolicyRule[],
  labels?: Record<string, string>,
): RbacObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name, ...(labels ? { labels } : {}) },
    rules,
  };
}

function aggregated(
  name: string,
  role: "admin" | "edit" | "view",
  labels?: Record<string, string>,
): RbacObject {
  return {
    ...clusterRole(name, [], labels),
    aggregationRule: { clusterRoleSelectors: [{ matchLabels: aggregateTo(role) }] },
  };
}

const matches = (list: readonly string[] | undefined, value: string) =>
  (list ?? []).some((item) => item === "*" || item === value);

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined) {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some(
    (r) =>
      r === "*" ||
      r === combined ||
      (subresource !== undefined && (r === `*/${subresource}` || r === `${resource}/*`)),
  );
}

function ruleAllows(rule: PolicyRule, a: ResourceAttributes): boolean {
  if (rule.nonResourceURLs?.length && !rule.resources?.length) return false;
  return (
    matches(rule.verbs, a.verb) &&
    matches(rule.apiGroups, a.group ?? "") &&
    resourceMatches(rule, a.resource, a.subresource) &&
    (!rule.resourceNames?.length || (a.name !== undefined && rule.resourceNames.includes(a.name)))
  );
}

/** The tokens a server takes (like `--token-auth-file`) and the RBAC objects it decides by. */
export class StandInRbac {
  private readonly objects = new Map<string, RbacObject>();

  constructor(
    private readonly users: ReadonlyMap<string, UserInfo>,
    objects: readonly RbacObject[] = defaultRbacObjects,
  ) {
    for (const o of objects) this.apply(o);
  }

  /** Who `token` is, with `system:authenticated` added as the real authenticators do; undefined when unknown. */
  authenticate(token: string): UserInfo | undefined {
    const user = this.users.get(token);
    if (!user) return undefined;
    const groups = [...(user.groups ?? [])];
    if (!groups.includes("system:authenticated")) groups.push("system:authenticated");
    return { ...user, groups };
  }

  /** Stores a Role, ClusterRole, RoleBinding or ClusterRoleBinding (replacing one of the same name). */
  apply(object: KubeObject): void {
    const kind = object.kind as RbacKind;
    if (!rbacKinds.includes(kind) || object.apiVersion !== "rbac.authorization.k8s.io/v1")
      throw new Error(
        `not an rbac.authorization.k8s.io/v1 object: ${object.apiVersion}/${object.kind}`,
      );
    const name = object.metadata.name;
    if (!name) throw new Error(`${kind} without metadata.name`);
    const namespace = clusterScoped(kind) ? "" : (object.metadata.namespace ?? "default");
    this.objects.set(`${kind}/${namespace}/${name}`, structuredClone(object) as RbacObject);
  }

  /** Removes an object; true when there was one. */
  delete(kind: RbacKind, namespace: string | undefined, name: string): boolean {
    return this.objects.delete(
      `${kind}/${clusterScoped(kind) ? "" : (namespace ?? "default")}/${name}`,
    );
  }

  /** Whether `user` may do `attributes`, and which binding says so (the reason the real server gives). */
  authorize(user: UserInfo, attributes: ResourceAttributes): Decision {
    const namespaced = attributes.namespace !== undefined && attributes.namespace !== "";
    for (const binding of this.objects.values()) {
      const kind = binding.kind;
      if (kind !== "ClusterRoleBinding" && kind !== "RoleBinding") continue;
      if (
        kind === "RoleBinding" &&
        (!namespaced || binding.metadata.namespace !== attributes.namespace)
      )
        continue;
      const subject = (binding.subjects ?? []).find((s) => subjectIs(s, user));
      if (!subject || !binding.roleRef) continue;
      const rules = this.rulesOf(binding.roleRef, binding.metadata.namespace);
      if (rules.some((rule) => ruleAllows(rule, attributes))) {
        const where =
          kind === "RoleBinding"
            ? `"${binding.metadata.name}/${binding.metadata.namespace}"`
            : `"${binding.metadata.name}"`;
        return {
          allowed: true,
          reason: `RBAC: allowed by ${kind} ${where} of ${binding.roleRef.kind} "${binding.roleRef.name}" to ${subject.kind} "${subject.name}"`,
        };
      }
    }
    return { allowed: false, reason: "" };
  }

  private rulesOf(ref: RoleRef, namespace: string | undefined): PolicyRule[] {
    if (ref.kind === "Role") return this.objects.get(`Role/${namespace}/${ref.name}`)?.rules ?? [];
    return this.clusterRoleRules(ref.name, new Set());
  }

  private clusterRoleRules(name: string, seen: Set<string>): PolicyRule[] {
    if (seen.has(name)) return [];
    seen.add(name);
    const role = this.objects.get(`ClusterRole//${name}`);
    if (!role) return [];
    const selectors = role.aggregationRule?.clusterRoleSelectors;
    if (!selectors) return role.rules ?? [];
    const picked = [...this.objects.values()].filter(
      (o) =>
        o.kind === "ClusterRole" &&
        o.metadata.name !== name &&
        selectors.some((s) =>
          Object.entries(s.matchLabels ?? {}).every(([k, v]) => o.metadata.labels?.[k] === v),
        ),
    );
    return picked.flatMap((o) => this.clusterRoleRules(o.metadata.name!, seen));
  }
}

function subjectIs(subject: RbacSubject, user: UserInfo): boolean {
  switch (subject.kind) {
    case "User":
      return subject.name === user.username;
    case "Group":
      return (user.groups ?? []).includes(subject.name);
    case "ServiceAccount":
      return user.username === `system:serviceaccount:${subject.namespace}:${subject.name}`;
    default:
      return false;
  }
}
