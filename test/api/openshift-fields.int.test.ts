/**
 * No silent drops, as a user meets it: OpenShift documentation BuildConfigs (test/api/openshift-docs,
 * only image and repository names changed) applied with the real `kiln apply` against the real
 * api (its own database and bus). Each applies, applies with `Warning:` lines naming what has no
 * effect, or is refused naming every field Kiln does not support, with nothing stored.
 */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createApiServer } from "@kiln/api";
import { runCli } from "@kiln/cli";
import { createDatabase, type Database } from "@kiln/db";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { expect } from "vitest";

const token = "test-token-0123456789abcdef";
const logger = createLogger({ service: "openshift-fields-test", level: "silent" });
const docs = join(import.meta.dirname, "openshift-docs");

type Run = { code: number; stdout: string; stderr: string };

const test = baseTest.extend<{ api: string; kiln: (...args: string[]) => Promise<Run> }>({
  api: async ({ infra, database, subjectPrefix }, use) => {
    const db: Database = createDatabase(database.url);
    const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "api-test", logger });
    const app = createApiServer({
      db: db.db,
      bus,
      logger,
      token,
      registry: infra.registry.address,
      secrets: infra.secrets,
      instantiateWaitMs: 300,
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    await use(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
    await app.close();
    await bus.drain();
    await db.close();
  },
  kiln: async ({ api }, use) => {
    await use(async (...args) => {
      let stdout = "";
      let stderr = "";
      const code = await runCli(args, {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
        env: { KILN_API_URL: api, KILN_TOKEN: token, KILN_NAMESPACE: "default" },
        cwd: "/",
      });
      return { code, stdout, stderr };
    });
  },
});

async function getBuildConfig(api: string, name: string) {
  const res = await fetch(`${api}/apis/v1/namespaces/default/buildconfigs/${name}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, json: (await res.json()) as any };
}

test("the documentation's ruby-sample-build, without strategy.type, applies as a Source build", async ({
  api,
  kiln,
}) => {
  const run = await kiln("apply", "-f", join(docs, "ruby-sample-build.yaml"));
  expect(run).toEqual({
    code: 0,
    stdout: "buildconfig.kiln.dev/ruby-sample-build created\n",
    stderr: "",
  });
  const stored = await getBuildConfig(api, "ruby-sample-build");
  expect(stored.json.spec.strategy.type).toBe("Source");
  expect(stored.json.spec.strategy.sourceStrategy.from.name).toBe("ruby-builder:latest");
});

test("git proxies apply with no warning and are stored", async ({ api, kiln }) => {
  const run = await kiln("apply", "-f", join(docs, "git-proxy.yaml"));
  expect(run).toEqual({ code: 0, stdout: "buildconfig.kiln.dev/proxied created\n", stderr: "" });
  const stored = await getBuildConfig(api, "proxied");
  expect(stored.json.spec.source.git).toMatchObject({
    httpProxy: "http://proxy.example.com",
    httpsProxy: "https://proxy.example.com",
    noProxy: "somedomain.com, otherdomain.com",
  });
});

test("input ConfigMaps, Secrets and mountTrustedCA are refused field by field; env from a Secret is not", async ({
  api,
  kiln,
}) => {
  const run = await kiln("apply", "-f", join(docs, "input-secrets.yaml"));
  expect(run.code).not.toBe(0);
  for (const field of ["spec.source.configMaps", "spec.source.secrets", "spec.mountTrustedCA"])
    expect(run.stderr).toContain(`items[0].${field}: not supported by Kiln`);
  expect(run.stderr).not.toContain("valueFrom");
  expect((await getBuildConfig(api, "quickstart")).status).toBe(404);
});

test("serviceAccount applies on the local engine with a Warning: line saying it has no effect there, and is stored", async ({
  api,
  kiln,
}) => {
  const run = await kiln("apply", "-f", join(docs, "service-account.yaml"));
  expect(run.code).toBe(0);
  expect(run.stdout).toBe("buildconfig.kiln.dev/with-account created\n");
  expect(run.stderr).toBe(
    "Warning: items[0].spec.serviceAccount: stored, but has no effect on the local engine: it is the build pod's service account, and only the kubernetes engine runs build pods\n",
  );
  expect((await getBuildConfig(api, "with-account")).json.spec.serviceAccount).toBe("builder");
});

test("a squashed Docker build applies with a Warning: line, and the field is stored", async ({
  api,
  kiln,
}) => {
  const run = await kiln("apply", "-f", join(docs, "squashed-docker.yaml"));
  expect(run.code).toBe(0);
  expect(run.stdout).toBe("buildconfig.kiln.dev/squashed created\n");
  expect(run.stderr).toMatch(
    /^Warning: items\[0\]\.spec\.strategy\.dockerStrategy\.imageOptimizationPolicy: stored, but has no effect: .+\n$/,
  );
  const stored = await getBuildConfig(api, "squashed");
  expect(stored.json.spec.strategy.type).toBe("Docker");
  expect(stored.json.spec.strategy.dockerStrategy.imageOptimizationPolicy).toBe("SkipLayers");
  expect(stored.json.spec.strategy.dockerStrategy.buildArgs).toEqual([
    { name: "foo", value: "bar" },
  ]);
});

test("the api returns warnings in its body and as Kubernetes' Warning headers", async ({ api }) => {
  const doc = {
    apiVersion: "build.openshift.io/v1",
    kind: "BuildConfig",
    metadata: { name: "exported", selfLink: "/apis/build.openshift.io/v1/x" },
    spec: {
      source: { git: { uri: "file:///srv/git/hello.git", depth: 1 } },
      strategy: { dockerStrategy: {} },
      revision: { type: "Git", git: { commit: "0123456" } },
    },
  };
  const res = await fetch(`${api}/apis/v1/apply`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ items: [doc] }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { warnings: string[] };
  expect(body.warnings).toEqual([
    expect.stringMatching(/^items\[0\]\.spec\.revision: stored, but has no effect: /),
    "items[0].metadata.selfLink: unknown field, not read by Kiln (dropped)",
    "items[0].spec.source.git.depth: unknown field, not read by Kiln (dropped)",
  ]);
  expect(res.headers.get("warning")).toBe(body.warnings.map((w) => `299 - "${w}"`).join(", "));
});
