/**
 * `kiln new-build` refusing, from the user's side, against the real api and scheduler (no
 * runner): `--dry-run` prints and creates nothing; an existing BuildConfig is never replaced
 * without `--overwrite`; a repository no template fits (or several do), one that cannot be
 * cloned, and a template whose builder image does not resolve are each a clear error naming it,
 * with nothing created.
 */
import { runCli } from "@kiln/cli";
import { makeGitRepo } from "@kiln/testing";
import { expect } from "vitest";
import { parseAllDocuments } from "yaml";
import { bootstrapToken, test } from "../support/tenant-api.js";

function template(name: string, files: string[], builder: { kind: string; name: string }) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuilderTemplate",
    metadata: { name, namespace: "openshift" },
    spec: {
      codeFramework: name,
      versions: [{ name: "1", builderImage: builder }],
      detect: { files },
    },
  };
}

test("dry runs, conflicts, unknown repositories and images are refused and change nothing", async ({
  kiln,
  baseImage,
}) => {
  const registry = kiln.infra.registry.address;
  await kiln.bootstrap("POST", "/apis/v1/apply", {
    items: [
      template("static", ["index.html"], { kind: "DockerImage", name: baseImage.ref }),
      template("nodejs", ["package.json"], { kind: "DockerImage", name: baseImage.ref }),
      template("python", ["requirements.txt"], { kind: "DockerImage", name: baseImage.ref }),
      template("go", ["go.mod"], { kind: "DockerImage", name: `${registry}/base/no-such:1` }),
      template("java", ["pom.xml"], { kind: "ImageStreamTag", name: "maven:3" }),
    ],
  });
  const cli = async (...args: string[]) => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {
        ...process.env,
        KILN_API_URL: kiln.url,
        KILN_TOKEN: bootstrapToken,
        KILN_NAMESPACE: "default",
        KILN_REGISTRY: registry,
        REGISTRY_AUTH_FILE: baseImage.authFile,
      },
      cwd: "/",
    });
    return { code, stdout, stderr };
  };
  const stored = async () => {
    const [bcs, iss] = await Promise.all([
      kiln.bootstrap("GET", "/apis/v1/namespaces/default/buildconfigs"),
      kiln.bootstrap("GET", "/apis/v1/namespaces/default/imagestreams"),
    ]);
    return [...bcs.json.items, ...iss.json.items].map(
      (r: any) => `${r.kind}/${r.metadata.name}@${r.metadata.resourceVersion}`,
    );
  };

  await using site = await makeGitRepo({ "index.html": "<p>hi</p>\n" });
  const dry = await cli("new-build", site.dir, "--name", "site", "--dry-run", "-o", "yaml");
  expect(dry.code).toBe(0);
  expect(dry.stderr).toBe(
    "Source strategy with BuilderTemplate static (version 1, detected by index.html) (dry run: nothing created)\n",
  );
  const docs = parseAllDocuments(dry.stdout).map((d) => d.toJS());
  expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
    "ImageStream/site",
    "BuildConfig/site",
  ]);
  expect(docs[1].spec.strategy.sourceStrategy.from).toEqual({
    kind: "DockerImage",
    name: baseImage.ref,
  });
  expect(await stored()).toEqual([]);

  // Created once; a second new-build of the name changes nothing, --overwrite replaces it.
  expect((await cli("new-build", site.dir, "--name", "site")).code).toBe(0);
  const before = await stored();
  expect(before).toEqual(["BuildConfig/site@1", "ImageStream/site@1"]);
  const again = await cli("new-build", site.dir, "--name", "site", "--to", "other:latest");
  expect(again).toMatchObject({
    code: 1,
    stderr:
      "error: BuildConfig default/site exists; nothing was changed (--overwrite replaces it, or --name picks another name)\n",
  });
  expect(await stored()).toEqual(before);
  const replaced = await cli(
    "new-build",
    site.dir,
    "--name",
    "site",
    "--to",
    "site:v2",
    "--overwrite",
  );
  expect(replaced.stdout).toContain("buildconfig.kiln.dev/site configured");
  // The existing ImageStream is used as it is (its tags are never reset by a re-apply).
  expect(replaced.stdout).not.toContain("imagestream.kiln.dev/site");
  const bc = await kiln.bootstrap("GET", "/apis/v1/namespaces/default/buildconfigs/site");
  expect(bc.json.spec.output.to.name).toBe("site:v2");

  const refusals: [Record<string, string>, string[], string][] = [
    [
      { "main.c": "int main(){}\n" },
      [],
      "error: no BuilderTemplate matches the repository (it has main.c); candidates: go (go.mod); java (pom.xml); nodejs (package.json); python (requirements.txt); static (index.html); name one with --template, or add a Dockerfile\n",
    ],
    [
      { "package.json": "{}", "requirements.txt": "flask\n" },
      [],
      "error: several BuilderTemplates match the repository: nodejs (package.json); python (requirements.txt); pick one with --template\n",
    ],
    [
      { "go.mod": "module x\n" },
      [],
      `error: the builder image of BuilderTemplate go (version 1), ${registry}/base/no-such:1, cannot be resolved: `,
    ],
    [
      { "pom.xml": "<project/>\n" },
      [],
      "error: the builder image of BuilderTemplate java (version 1), ImageStreamTag openshift/maven:3, does not exist; nothing was created\n",
    ],
    [
      { "index.html": "x" },
      ["--template", "ruby"],
      "error: no BuilderTemplate ruby (templates: go, java, nodejs, python, static)\n",
    ],
  ];
  for (const [files, extra, message] of refusals) {
    await using repo = await makeGitRepo(files);
    const run = await cli("new-build", repo.dir, "--name", "refused", ...extra);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr.startsWith(message), run.stderr).toBe(true);
    expect(run.stdout).toBe("");
  }
  const missing = await cli("new-build", "/nonexistent/repo.git");
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(
    /^error: cannot clone \/nonexistent\/repo\.git: .*nothing was created\n$/,
  );
  const badRef = await cli("new-build", `${site.dir}#no-such-branch`, "--name", "refused");
  expect(badRef.stderr).toMatch(/^error: cannot clone .* at no-such-branch: .*no-such-branch/);
  expect(await stored()).toEqual(["BuildConfig/site@2", "ImageStream/site@1"]);
});
