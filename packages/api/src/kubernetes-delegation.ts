import { createHash } from "node:crypto";
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  type KubeConfig,
  type V1ResourceAttributes,
} from "@kubernetes/client-node";
import { KilnError, Role, type RoleBinding, type Subject } from "@kiln/domain";

/** The cluster could not be asked (unreachable, or it refused Kiln's own review): a 503, never a guess. */
export class KubernetesReviewError extends KilnError {
  readonly reason = "ServiceUnavailable";
  readonly retryable = true;
}

/**
 * What a Kubernetes user's role in a namespace is read from: the highest of these that a
 * SubjectAccessReview allows. They follow the cluster's default roles, as OpenShift's projects
 * do: `admin` manages the namespace's RoleBindings, `edit` creates BuildConfigs, `view` reads
 * them. On OpenShift the build.openshift.io rules are in `edit`/`view` already; elsewhere
 * k8s/base/rbac.yaml aggregates them in (kiln-edit, kiln-view).
 */
const roleQuestions: readonly { role: Role; attributes: V1ResourceAttributes }[] = [
  {
    role: Role.Admin,
    attributes: { verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings" },
  },
  {
    role: Role.Edit,
    attributes: { verb: "create", group: "build.openshift.io", resource: "buildconfigs" },
  },
  {
    role: Role.View,
    attributes: { verb: "get", group: "build.openshift.io", resource: "buildconfigs" },
  },
];

/** Whoever may do everything everywhere is Kiln's cluster admin (the `cluster-admin` role). */
const clusterAdminQuestion: V1ResourceAttributes = { verb: "*", group: "*", resource: "*" };

type Cached<T> = { value: T; until: number };

export interface KubernetesDelegationOptions {
  kubeConfig: KubeConfig;
  /**
   * How long a review's answer is reused. The API server's own webhook authenticator caches
   * for two minutes; ten seconds keeps a revoked binding's reach short. @default 10000
   */
  cacheTtlMs?: number;
}

/**
 * Authentication and authorization delegated to the cluster: a bearer token Kiln does not know
 * is reviewed by the API server (TokenReview), and the user's role in each namespace a request
 * touches is read off the cluster's RBAC (SubjectAccessReview). Needs `create` on tokenreviews
 * and subjectaccessreviews (`system:auth-delegator`).
 */
export class KubernetesDelegation {
  private readonly authentication: AuthenticationV1Api;
  private readonly authorization: AuthorizationV1Api;
  private readonly ttlMs: number;
  private readonly users = new Map<string, Cached<Subject | null>>();
  private readonly decisions = new Map<string, Cached<boolean>>();

  constructor(options: KubernetesDelegationOptions) {
    this.authentication = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authorization = options.kubeConfig.makeApiClient(AuthorizationV1Api);
    this.ttlMs = options.cacheTtlMs ?? 10_000;
  }

  /** The cluster's user behind `token` (cluster admin or not, no roles yet), or null when it is not one. */
  async authenticate(token: string): Promise<Subject | null> {
    // Keyed by the token's hash: the cache holds no token.
    const key = createHash("sha256").update(token).digest("hex");
    const cached = this.fresh(this.users, key);
    if (cached !== undefined) return cached;
    const review = await this.ask("review the token", () =>
      this.authentication.createTokenReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
      }),
    );
    const user = review.status?.authenticated ? review.status.user : undefined;
    let subject: Subject | null = null;
    if (user?.username) {
      const kubernetesUser = {
        username: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
      };
      const clusterAdmin = await this.allowed(kubernetesUser, clusterAdminQuestion);
      subject = { name: user.username, clusterAdmin, roles: [], kubernetesUser };
    }
    this.remember(this.users, key, subject);
    return subject;
  }

  /** `subject` with its roles in `namespaces` read off the cluster (one review per question, cached). */
  async withRoles(subject: Subject, namespaces: Iterable<string>): Promise<Subject> {
    const user = subject.kubernetesUser;
    if (!user || subject.clusterAdmin) return subject;
    const wanted = [...new Set(namespaces)].filter(
      (ns) => !subject.roles.some((b) => b.namespace === ns),
    );
    const found = await Promise.all(
      wanted.map(async (namespace): Promise<RoleBinding | null> => {
        const answers = await Promise.all(
          roleQuestions.map((q) => this.allowed(user, { ...q.attributes, namespace })),
        );
        const index = answers.indexOf(true);
        return index < 0 ? null : { namespace, role: roleQuestions[index]!.role };
      }),
    );
    return {
      ...subject,
      roles: [...subject.roles, ...found.filter((b): b is RoleBinding => b !== null)],
    };
  }

  private async allowed(
    user: NonNullable<Subject["kubernetesUser"]>,
    attributes: V1ResourceAttributes,
  ): Promise<boolean> {
    const key = JSON.stringify([user.username, user.uid, user.groups, attributes]);
    const cached = this.fresh(this.decisions, key);
    if (cached !== undefined) return cached;
    const review = await this.ask("review access", () =>
      this.authorization.createSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            groups: [...user.groups],
            resourceAttributes: attributes,
          },
        },
      }),
    );
    const allowed = review.status?.allowed === true && review.status.denied !== true;
    this.remember(this.decisions, key, allowed);
    return allowed;
  }

  private async ask<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const code = (error as { code?: number }).code;
      throw new KubernetesReviewError(
        `the Kubernetes API server could not ${what}${code ? ` (HTTP ${code})` : ""}: ${reasonOf(error)}`,
      );
    }
  }

  private fresh<T>(cache: Map<string, Cached<T>>, key: string): T | undefined {
    const hit = cache.get(key);
    if (!hit) return undefined;
    if (hit.until > Date.now()) return hit.value;
    cache.delete(key);
    return undefined;
  }

  private remember<T>(cache: Map<string, Cached<T>>, key: string, value: T): void {
    // Bounded: a flood of made-up tokens must not grow the api's memory without end.
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, { value, until: Date.now() + this.ttlMs });
  }
}

/** The Status message the API server gave, else the error's own; never a token (none is in either). */
function reasonOf(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const message = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof message === "string") return message;
    } catch {
      // not a Status
    }
  }
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
