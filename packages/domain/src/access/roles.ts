import { assertNever } from "../assert-never.js";
import { ForbiddenError } from "../errors.js";
import { sharedTemplatesNamespace } from "../resources/builder-template.js";

/**
 * A subject's role in one namespace, OpenShift's default project roles (stored in
 * `api_tokens.roles` and on the wire as these strings):
 * - `view` reads everything of the namespace (a Secret's contents are never returned anyway);
 * - `edit` also creates, changes and deletes its resources and starts and cancels its builds;
 * - `admin` also manages the namespace's tokens and its ImageStreamGrants.
 */
export const Role = { Admin: "admin", Edit: "edit", View: "view" } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const roles = Object.values(Role) as [Role, ...Role[]];

/** What a request does to a resource; shown in a refusal (`may not edit BuildConfigs`). */
export const Verb = {
  Read: "read",
  Edit: "edit",
  Delete: "delete",
  Start: "start",
  Cancel: "cancel",
} as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

/**
 * The resources of a namespace, as a refusal names them (plural, as OpenShift's RBAC does).
 * ImageStreamGrants and Tokens are the namespace's bindings: only its admin changes them.
 */
export const AccessResource = {
  BuildConfigs: "BuildConfigs",
  Builds: "Builds",
  ImageStreams: "ImageStreams",
  ImageStreamTags: "ImageStreamTags",
  ImageStreamGrants: "ImageStreamGrants",
  Secrets: "Secrets",
  Deploys: "Deploys",
  WebhookDeliveries: "WebhookDeliveries",
  Tokens: "Tokens",
  BuilderTemplates: "BuilderTemplates",
} as const;
export type AccessResource = (typeof AccessResource)[keyof typeof AccessResource];

/** A role held in one namespace. */
export interface RoleBinding {
  namespace: string;
  role: Role;
}

/**
 * Who calls the API: a token of `kiln create token`, the bootstrap token (cluster-admin), or,
 * where the api delegates to Kubernetes, a user of the cluster (its roles read off the cluster's
 * RBAC, one namespace at a time).
 */
export interface Subject {
  /** The token's name (`ci`); `bootstrap` for API_TOKEN; a Kubernetes user's username. */
  name: string;
  /** Set when the cluster authenticated the caller (TokenReview): who it said the caller is. */
  kubernetesUser?: { username: string; uid?: string; groups: readonly string[] };
  /** The bootstrap token of `kiln up`: every verb in every namespace, and tokens of any namespace. */
  clusterAdmin: boolean;
  /** At most one per namespace. */
  roles: readonly RoleBinding[];
}

/** One thing a request does: a verb on a resource of a namespace. */
export interface AccessRequest {
  verb: Verb;
  resource: AccessResource;
  namespace: string;
}

const rank: Record<Role, number> = { view: 1, edit: 2, admin: 3 };

/** The subject's role in `namespace`, or null when it has none there. */
export function roleIn(subject: Subject, namespace: string): Role | null {
  return subject.roles.find((b) => b.namespace === namespace)?.role ?? null;
}

/** The least role that allows `verb` on `resource`. */
function requiredRole(verb: Verb, resource: AccessResource): Role {
  // Bindings (grants, tokens) are the admin's, as OpenShift keeps RoleBindings to `admin`;
  // grants may be read by `view`, since they say which images a namespace may use.
  const binding =
    resource === AccessResource.ImageStreamGrants || resource === AccessResource.Tokens;
  switch (verb) {
    case Verb.Read:
      return resource === AccessResource.Tokens ? Role.Admin : Role.View;
    case Verb.Edit:
    case Verb.Delete:
      return binding ? Role.Admin : Role.Edit;
    case Verb.Start:
    case Verb.Cancel:
      return Role.Edit;
    default:
      return assertNever(verb, "verb");
  }
}

/** Whether `subject` may do `request`. */
export function isAllowed(subject: Subject, request: AccessRequest): boolean {
  if (subject.clusterAdmin) return true;
  // The shared templates are every namespace's to pick from (builder-template.ts).
  if (
    request.verb === Verb.Read &&
    request.resource === AccessResource.BuilderTemplates &&
    request.namespace === sharedTemplatesNamespace
  )
    return true;
  const role = roleIn(subject, request.namespace);
  return role !== null && rank[role] >= rank[requiredRole(request.verb, request.resource)];
}

/**
 * The refusal of `request`, or null when it is allowed. The message names the token, the verb,
 * the resource, the namespace and the role held there, and nothing the caller may not see.
 */
export function refusal(subject: Subject, request: AccessRequest): ForbiddenError | null {
  if (isAllowed(subject, request)) return null;
  const role = roleIn(subject, request.namespace);
  return new ForbiddenError(
    `${describeSubject(subject)} may not ${request.verb} ${request.resource} in namespace ${request.namespace} (${role ? `role ${role}` : "no role there"})`,
  );
}

/** How a refusal names the caller: `token "ci"`, or `Kubernetes user "alice"`. */
export function describeSubject(subject: Subject): string {
  return subject.kubernetesUser ? `Kubernetes user "${subject.name}"` : `token "${subject.name}"`;
}

/** Throws the refusal of `request`, if any. */
export function authorize(subject: Subject, request: AccessRequest): void {
  const refused = refusal(subject, request);
  if (refused) throw refused;
}

/**
 * Where `subject` may `verb` `resource`: `"all"` for cluster-admin, else the namespaces of
 * its roles that are enough. For cluster-wide listings, which show only these.
 */
export function permittedNamespaces(
  subject: Subject,
  verb: Verb,
  resource: AccessResource,
): "all" | ReadonlySet<string> {
  if (subject.clusterAdmin) return "all";
  return new Set(
    subject.roles
      .filter((b) => isAllowed(subject, { verb, resource, namespace: b.namespace }))
      .map((b) => b.namespace),
  );
}

/** Whether `namespace` is in what `permittedNamespaces` returned. */
export function inPermitted(permitted: "all" | ReadonlySet<string>, namespace: string): boolean {
  return permitted === "all" || permitted.has(namespace);
}
