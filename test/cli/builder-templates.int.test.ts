/**
 * BuilderTemplates through the real api (its own database and bus) and the real CLI, from the
 * side of a tenant: the shared `openshift` templates are every token's to read and list, but
 * only cluster-admin changes them; a namespace's own template shadows a shared one of the same
 * name; another namespace's templates are neither listed nor readable.
 */
import { runCli } from "@kiln/cli";
import { expect } from "vitest";
import { test } from "../support/tenant-api.js";

function template(namespace: string, name: string, files: string[], framework = name) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuilderTemplate",
    metadata: { name, namespace },
    spec: {
      description: `${framework} apps`,
      codeFramework: framework,
      versions: [
        { name: "1", builderImage: { kind: "DockerImage", name: `registry.test/${name}:1` } },
        { name: "2", builderImage: { kind: "DockerImage", name: `registry.test/${name}:2` } },
      ],
      defaultVersion: "2",
      detect: { files },
    },
  };
}

async function cli(url: string, token: string, ...args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { KILN_API_URL: url, KILN_TOKEN: token, KILN_NAMESPACE: "team-a" },
    cwd: "/",
  });
  return { code, stdout, stderr };
}

test("shared templates are listed for every namespace; only cluster-admin changes them", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const shared = await bootstrap("POST", "/apis/v1/apply", {
    items: [
      template("openshift", "go", ["go.mod"]),
      template("openshift", "static", ["index.html"]),
    ],
  });
  expect(shared.status).toBe(200);
  const teamA = await kiln.token("team-a-ci", "team-a=edit");
  const teamB = await kiln.token("team-b-ci", "team-b=admin");

  // team-a's own "static" is used in place of the shared one of that name.
  const own = await kiln.as(teamA)("POST", "/apis/v1/apply", {
    items: [template("team-a", "static", ["index.htm"], "html")],
  });
  expect(own.status).toBe(200);

  const listed = await cli(kiln.url, teamA, "get", "templates");
  expect(listed.code).toBe(0);
  const rows = listed.stdout.trim().split("\n");
  expect(rows[0]).toMatch(/^NAME\s+FRAMEWORK\s+VERSIONS\s+DETECTS\s+NAMESPACE\s+AGE$/);
  expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 5))).toEqual([
    ["go", "go", "1,2*", "go.mod", "openshift"],
    ["static", "html", "1,2*", "index.htm", "team-a"],
  ]);
  const one = await cli(kiln.url, teamA, "get", "template", "go", "-o", "json");
  expect(JSON.parse(one.stdout)).toMatchObject({
    kind: "BuilderTemplate",
    metadata: { namespace: "openshift", name: "go" },
  });

  // A tenant cannot change the shared templates, nor read another namespace's.
  const hijack = await kiln.as(teamA)("POST", "/apis/v1/apply", {
    items: [template("openshift", "go", ["go.mod", "main.go"])],
  });
  expect(hijack.status).toBe(403);
  expect(hijack.json.message).toBe(
    'token "team-a-ci" may not edit BuilderTemplates in namespace openshift (no role there)',
  );
  const remove = await kiln.as(teamA)(
    "DELETE",
    "/apis/v1/namespaces/openshift/buildertemplates/go",
  );
  expect(remove.status).toBe(403);
  const stored = await bootstrap("GET", "/apis/v1/namespaces/openshift/buildertemplates/go");
  expect(stored.json.spec.detect.files).toEqual(["go.mod"]);
  const peek = await kiln.as(teamB)("GET", "/apis/v1/namespaces/team-a/buildertemplates/static");
  expect(peek.status).toBe(403);
  const teamBList = await cli(kiln.url, teamB, "get", "templates", "-n", "team-b", "-o", "name");
  expect(teamBList.stdout.trim().split("\n")).toEqual([
    "buildertemplate.kiln.dev/go",
    "buildertemplate.kiln.dev/static",
  ]);

  // Deleting its own brings the shared one back for team-a.
  const deleted = await cli(kiln.url, teamA, "delete", "template", "static");
  expect(deleted).toMatchObject({ code: 0, stdout: 'buildertemplate.kiln.dev "static" deleted\n' });
  const after = await cli(kiln.url, teamA, "get", "template", "static", "-o", "json");
  expect(JSON.parse(after.stdout).metadata.namespace).toBe("openshift");
});

test("a template that is wrong is refused naming the field, and nothing is stored", async ({
  kiln,
}) => {
  const bad = template("openshift", "go", ["src/go.mod"]);
  const res = await kiln.bootstrap("POST", "/apis/v1/apply", { items: [bad] });
  expect(res.status).toBe(400);
  expect(res.json.details).toEqual([
    {
      path: "items[0].spec.detect.files[0]",
      message: "a file name at the top of the repository (no /)",
    },
  ]);
  const gone = await kiln.bootstrap("GET", "/apis/v1/namespaces/openshift/buildertemplates/go");
  expect(gone.status).toBe(404);
});
