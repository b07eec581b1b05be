// These tests check the STAND-IN Kubernetes API server of @kiln/testing (packages/testing/src/kube),
// not Kubernetes: its tokens, TokenReviews, SubjectAccessReviews and RBAC authorization, held to
// the real API server's behaviour through the real @kubernetes/client-node over HTTP.
import {
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type V1ResourceAttributes,
} from "@kubernetes/client-node";
import { expect, test } from "vitest";
import { StandInApiServer } from "@kiln/testing";

const users = [
  { token: "alice-token", username: "alice", groups: ["team-a-devs"] },
  { token: "sa-token", username: "system:serviceaccount:kiln:kiln-api" },
];

async function server() {
  return StandInApiServer.start({ token: "admin-token", users, rbac: true });
}

const binding = (
  kind: "RoleBinding" | "ClusterRoleBinding",
  name: string,
  role: string,
  subject: { kind: string; name: string; namespace?: string },
  namespace?: string,
) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
  subjects: [subject],
});

test("a TokenReview says who a token is, with system:authenticated, and that an unknown one is nobody", async () => {
  await using kube = await server();
  kube.rbac.apply(
    binding("ClusterRoleBinding", "api-delegator", "system:auth-delegator", {
      kind: "ServiceAccount",
      name: "kiln-api",
      namespace: "kiln",
    }),
  );
  const auth = kube.kubeConfig("default", "sa-token").makeApiClient(AuthenticationV1Api);
  const known = await auth.createTokenReview({ body: { spec: { token: "alice-token" } } });
  expect(known.status).toMatchObject({
    authenticated: true,
    user: { username: "alice", groups: ["team-a-devs", "system:authenticated"] },
  });
  const unknown = await auth.createTokenReview({ body: { spec: { token: "made-up" } } });
  expect(unknown.status?.authenticated).toBeFalsy();
  expect(unknown.status?.error).toMatch(/invalid bearer token/);
});

test("posting a review needs create on it (system:auth-delegator), as on a real cluster", async () => {
  await using kube = await server();
  const auth = kube.kubeConfig("default", "alice-token").makeApiClient(AuthenticationV1Api);
  const refused = await auth.createTokenReview({ body: { spec: { token: "sa-token" } } }).then(
    () => null,
    (error: { code?: number; body?: string }) => error,
  );
  expect(refused?.code).toBe(403);
  expect(JSON.parse(refused!.body!).message).toBe(
    'tokenreviews.authentication.k8s.io is forbidden: User "alice" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
  );
});

test("SubjectAccessReviews follow RoleBindings of the namespace, ClusterRoleBindings, groups and the aggregated default roles", async () => {
  await using kube = await server();
  kube.rbac.apply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: {
      name: "builds-edit",
      labels: { "rbac.authorization.k8s.io/aggregate-to-edit": "true" },
    },
    rules: [
      { apiGroups: ["build.openshift.io"], resources: ["buildconfigs"], verbs: ["create", "get"] },
    ],
  });
  kube.rbac.apply(
    binding("RoleBinding", "devs-edit", "edit", { kind: "Group", name: "team-a-devs" }, "team-a"),
  );
  const review = kube.kubeConfig().makeApiClient(AuthorizationV1Api);
  const ask = async (user: string, groups: string[], attributes: V1ResourceAttributes) =>
    (
      await review.createSubjectAccessReview({
        body: { spec: { user, groups, resourceAttributes: attributes } },
      })
    ).status;
  const create = { verb: "create", group: "build.openshift.io", resource: "buildconfigs" };
  // edit aggregates the labelled role; the group's binding is in team-a only.
  expect(await ask("alice", ["team-a-devs"], { ...create, namespace: "team-a" })).toEqual({
    allowed: true,
    reason:
      'RBAC: allowed by RoleBinding "devs-edit/team-a" of ClusterRole "edit" to Group "team-a-devs"',
  });
  expect(await ask("alice", ["team-a-devs"], { ...create, namespace: "team-b" })).toEqual({
    allowed: false,
  });
  expect(await ask("alice", ["team-a-devs"], create)).toEqual({ allowed: false });
  // edit holds view (aggregated twice over), and not admin's RoleBindings.
  expect(
    (await ask("alice", ["team-a-devs"], { verb: "list", resource: "pods", namespace: "team-a" }))
      ?.allowed,
  ).toBe(true);
  expect(
    (
      await ask("alice", ["team-a-devs"], {
        verb: "create",
        group: "rbac.authorization.k8s.io",
        resource: "rolebindings",
        namespace: "team-a",
      })
    )?.allowed,
  ).toBe(false);
  // system:masters may do anything anywhere, "*" included.
  expect(
    (await ask("root", ["system:masters"], { verb: "*", group: "*", resource: "*" }))?.allowed,
  ).toBe(true);
  expect(
    (await ask("alice", ["team-a-devs"], { verb: "*", group: "*", resource: "*" }))?.allowed,
  ).toBe(false);
});

test("every request is authorized: a user reads what a binding lets it, and is refused the rest in the real server's words", async () => {
  await using kube = await server();
  kube.rbac.apply(
    binding("RoleBinding", "alice-view", "view", { kind: "User", name: "alice" }, "team-a"),
  );
  const core = kube.kubeConfig("team-a", "alice-token").makeApiClient(CoreV1Api);
  expect((await core.listNamespacedPod({ namespace: "team-a" })).items).toEqual([]);
  const refused = await core.listNamespacedSecret({ namespace: "team-a" }).then(
    () => null,
    (error: { code?: number; body?: string }) => error,
  );
  expect(refused?.code).toBe(403);
  expect(JSON.parse(refused!.body!).message).toBe(
    'secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "team-a"',
  );
  const apps = kube.kubeConfig("team-b", "alice-token").makeApiClient(AppsV1Api);
  const elsewhere = await apps.readNamespacedDeployment({ namespace: "team-b", name: "web" }).then(
    () => null,
    (error: { code?: number }) => error,
  );
  expect(elsewhere?.code).toBe(403);
  const nobody = kube.kubeConfig("team-a", "made-up").makeApiClient(CoreV1Api);
  const unauthenticated = await nobody.listNamespacedPod({ namespace: "team-a" }).then(
    () => null,
    (error: { code?: number }) => error,
  );
  expect(unauthenticated?.code).toBe(401);
});
