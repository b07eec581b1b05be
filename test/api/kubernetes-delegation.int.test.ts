/**
 * The api delegating to a cluster (API_AUTH_DELEGATION=kubernetes), from the caller's side. The
 * cluster is the STAND-IN Kubernetes API server of @kiln/testing, not Kubernetes (no cluster can
 * be had on the build machines): it reviews tokens and evaluates RBAC as the real server does
 * (test/kube/stand-in-rbac.int.test.ts holds it to that). The api reaches it as its pod would,
 * with the kiln-api service account's token, bound by k8s/base/rbac.yaml exactly as shipped, and
 * the users' roles come from kiln-view/kiln-edit of that file aggregated into the default roles.
 * The api, scheduler, PostgreSQL and NATS are real.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KubernetesDelegation } from "@kiln/api";
import { StandInApiServer, type KubeObject } from "@kiln/testing";
import { parseAllDocuments } from "yaml";
import { expect } from "vitest";
import { repoRoot } from "../support/kiln-services.js";
import {
  buildConfig,
  eventually,
  imageStreamGrant,
  kilnFixture,
  test as tenantTest,
  type TenantApi,
} from "../support/tenant-api.js";

const users = [
  { token: "sa-kiln-api", username: "system:serviceaccount:kiln:kiln-api" },
  { token: "alice-k8s", username: "alice", uid: "u-alice", groups: ["team-a-devs"] },
  { token: "bob-k8s", username: "bob" },
  { token: "carol-k8s", username: "carol" },
  { token: "root-k8s", username: "root", groups: ["system:masters"] },
];

/** The RBAC objects of k8s/base/rbac.yaml, as a cluster would hold them after `kubectl apply -k`. */
const shippedRbac = parseAllDocuments(readFileSync(join(repoRoot, "k8s/base/rbac.yaml"), "utf8"))
  .map((doc) => doc.toJS() as KubeObject)
  .filter((o) => o?.apiVersion === "rbac.authorization.k8s.io/v1");

const roleBinding = (namespace: string, role: string, subject: { kind: string; name: string }) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "RoleBinding",
  metadata: { name: `${subject.name}-${role}`, namespace },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
  subjects: [subject],
});

const test = tenantTest.extend<{
  cluster: StandInApiServer;
  apiKubernetes: KubernetesDelegation | undefined;
  kiln: TenantApi;
}>({
  cluster: async ({}, use) => {
    const kube = await StandInApiServer.start({ token: "admin-k8s", users, rbac: true });
    for (const object of shippedRbac) kube.rbac.apply(object);
    kube.rbac.apply(roleBinding("team-a", "edit", { kind: "Group", name: "team-a-devs" }));
    kube.rbac.apply(roleBinding("team-a", "view", { kind: "User", name: "bob" }));
    kube.rbac.apply(roleBinding("team-a", "admin", { kind: "User", name: "carol" }));
    try {
      await use(kube);
    } finally {
      await kube.stop();
    }
  },
  apiKubernetes: async ({ cluster }, use) =>
    use(
      new KubernetesDelegation({
        kubeConfig: cluster.kubeConfig("kiln", "sa-kiln-api"),
        cacheTtlMs: 300,
      }),
    ),
  kiln: kilnFixture,
});

const bcPath = (ns: string, name = "") =>
  `/apis/v1/namespaces/${ns}/buildconfigs${name ? `/${name}` : ""}`;

test("a cluster user edits and builds where RBAC lets it, and is refused elsewhere with nothing changed", async ({
  kiln,
}) => {
  const alice = kiln.as("alice-k8s");
  const applied = await alice("POST", "/apis/v1/apply", { items: [buildConfig("team-a", "app")] });
  expect(applied.status, applied.text).toBe(200);
  expect((await alice("POST", `${bcPath("team-a", "app")}/instantiate`, {})).status).toBe(201);
  await eventually(async () => {
    const builds = (await kiln.bootstrap("GET", "/apis/v1/namespaces/team-a/builds")).json.items;
    return builds.length === 1 ? true : undefined;
  }, "app-1 made");

  const elsewhere = await alice("POST", "/apis/v1/apply", {
    items: [buildConfig("team-b", "app")],
  });
  expect(elsewhere.status).toBe(403);
  expect(elsewhere.json.message).toBe(
    'Kubernetes user "alice" may not edit BuildConfigs in namespace team-b (no role there)',
  );
  expect((await alice("GET", bcPath("team-b"))).status).toBe(403);
  expect((await kiln.bootstrap("GET", bcPath("team-b", "app"))).status).toBe(404);

  // edit is not admin: the namespace's grants are its admin's (the cluster's `admin` role).
  const grant = imageStreamGrant("team-a", "to-b", "team-b", ["pull"]);
  const refusedGrant = await alice("POST", "/apis/v1/apply", { items: [grant] });
  expect(refusedGrant.status).toBe(403);
  expect(refusedGrant.json.message).toMatch(
    /Kubernetes user "alice" may not edit ImageStreamGrants in namespace team-a \(role edit\)/,
  );
  expect((await kiln.as("carol-k8s")("POST", "/apis/v1/apply", { items: [grant] })).status).toBe(
    200,
  );
});

test("a user the cluster binds to view reads but cannot apply or start", async ({ kiln }) => {
  expect(
    (await kiln.bootstrap("POST", "/apis/v1/apply", { items: [buildConfig("team-a", "app")] }))
      .status,
  ).toBe(200);
  const bob = kiln.as("bob-k8s");
  const read = await bob("GET", bcPath("team-a", "app"));
  expect(read.status).toBe(200);
  const apply = await bob("POST", "/apis/v1/apply", {
    items: [buildConfig("team-a", "app", { to: "other:latest" })],
  });
  expect(apply.status).toBe(403);
  expect(apply.json.message).toBe(
    'Kubernetes user "bob" may not edit BuildConfigs in namespace team-a (role view)',
  );
  const start = await bob("POST", `${bcPath("team-a", "app")}/instantiate`, {});
  expect(start.status).toBe(403);
  expect((await kiln.bootstrap("GET", bcPath("team-a", "app"))).json).toEqual(read.json);
  expect((await kiln.bootstrap("GET", "/apis/v1/namespaces/team-a/builds")).json.items).toEqual([]);
});

test("cluster-wide listings show a cluster user the namespaces it may read; system:masters is Kiln's cluster admin", async ({
  kiln,
}) => {
  await kiln.bootstrap("POST", "/apis/v1/apply", {
    items: [buildConfig("team-a", "app"), buildConfig("team-b", "secret-project")],
  });
  const graph = await kiln.as("alice-k8s")("GET", "/apis/v1/buildgraph");
  expect(graph.status).toBe(200);
  expect(graph.json.nodes.map((n: { buildConfig: string }) => n.buildConfig)).toEqual([
    "team-a/app",
  ]);
  expect(graph.text).not.toContain("secret-project");
  expect((await kiln.as("alice-k8s")("GET", "/apis/v1/webhookrefusals")).status).toBe(403);

  const root = kiln.as("root-k8s");
  const all = await root("GET", "/apis/v1/buildgraph");
  expect(all.json.nodes.map((n: { buildConfig: string }) => n.buildConfig)).toEqual([
    "team-a/app",
    "team-b/secret-project",
  ]);
  expect((await root("GET", "/apis/v1/webhookrefusals")).status).toBe(200);
});

test("a token neither Kiln nor the cluster knows is a 401; a Kiln-looking one is never sent to the cluster", async ({
  kiln,
  cluster,
}) => {
  cluster.clearRequests();
  const unknown = await kiln.as("made-up-token")("GET", bcPath("team-a"));
  expect(unknown.status).toBe(401);
  expect(unknown.json.message).toBe(
    "the bearer token is not a Kiln token and the Kubernetes cluster did not accept it",
  );
  const reviewed = cluster.requests.filter((r) => r.path.endsWith("/tokenreviews"));
  expect(reviewed).toHaveLength(1);

  cluster.clearRequests();
  const kilnLike = await kiln.as("kiln_revokedOrMadeUp0123456789")("GET", bcPath("team-a"));
  expect(kilnLike.status).toBe(401);
  expect(kilnLike.json.message).toBe("the bearer token is unknown or was revoked");
  expect(cluster.requests).toEqual([]);
  // Kiln's own tokens work beside the cluster's.
  const viewer = kiln.as(await kiln.token("viewer", "team-a=view"));
  expect((await viewer("GET", bcPath("team-a"))).status).toBe(200);
});

test("a binding the cluster removes stops working once the review cache expires", async ({
  kiln,
  cluster,
}) => {
  const bob = kiln.as("bob-k8s");
  expect((await bob("GET", bcPath("team-a"))).status).toBe(200);
  cluster.rbac.delete("RoleBinding", "team-a", "bob-view");
  await eventually(
    async () => ((await bob("GET", bcPath("team-a"))).status === 403 ? true : undefined),
    "bob refused",
    5_000,
  );
  const refused = await bob("GET", bcPath("team-a"));
  expect(refused.json.message).toBe(
    'Kubernetes user "bob" may not read BuildConfigs in namespace team-a (no role there)',
  );
});

test("when the cluster cannot answer, or refuses the api its reviews, the caller gets 503 naming why, and nothing changes", async ({
  kiln,
  cluster,
}) => {
  cluster.failNext({ path: "/apis/authentication.k8s.io/v1/tokenreviews", status: 500 });
  const down = await kiln.as("alice-k8s")("POST", "/apis/v1/apply", {
    items: [buildConfig("team-a", "app")],
  });
  expect(down.status, down.text).toBe(503);
  expect(down.json).toMatchObject({ error: "ServiceUnavailable" });
  expect(down.json.message).toMatch(
    /^the Kubernetes API server could not review the token \(HTTP 500\)/,
  );
  expect(down.text).not.toContain("alice-k8s");
  expect((await kiln.bootstrap("GET", bcPath("team-a", "app"))).status).toBe(404);

  // An api whose account lacks kiln-api-reviews (here: alice's own token) is refused by the cluster.
  const unbound = new KubernetesDelegation({ kubeConfig: cluster.kubeConfig("kiln", "alice-k8s") });
  const refused = await unbound.authenticate("bob-k8s").then(
    () => null,
    (error: Error) => error,
  );
  expect(refused?.message).toBe(
    'the Kubernetes API server could not review the token (HTTP 403): tokenreviews.authentication.k8s.io is forbidden: User "alice" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
  );
});
