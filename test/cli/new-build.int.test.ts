/**
 * `kiln new-build` as a user runs it, against real Kiln services (api, scheduler, build-runner
 * on the local engine with real buildah and git): real local git repositories of each kind the
 * demo's templates detect (a static site, a shell app) and a Dockerfile, each made into a
 * BuildConfig whose ConfigChange build completes and whose image holds the app. The builders
 * are the ones `kiln up --demo` makes (demoTemplates), from Debian's busybox-static.
 */
import { afterEach, expect } from "vitest";
import { demoTemplates, runCli } from "@kiln/cli";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { inImage } from "../support/images.js";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function cli(env: Record<string, string>, ...args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...process.env, ...env },
    cwd: "/",
  });
  return { code, stdout, stderr };
}

test("new-build detects a static site, a shell app and a Dockerfile, and each BuildConfig builds", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const templates = await demoTemplates({
    registry: infra.registry.address,
    buildah: "buildah",
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    exists: async () => false,
  });
  expect((await call("POST", "/apis/v1/apply", { items: templates })).status).toBe(200);

  await using site = await makeGitRepo({
    "index.html": "<h1>hello from a template</h1>\n",
    "style.css": "h1 { color: teal }\n",
  });
  await using shell = await makeGitRepo({
    "app.sh": '#!/bin/sh\necho "shell app says $1"\n',
  });
  await using docker = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nCOPY note.txt /note.txt\nCMD ["cat","/note.txt"]\n`,
    "note.txt": "built from the Dockerfile\n",
    "index.html": "a Dockerfile wins over the templates\n",
  });
  const env = {
    ...running.cliEnv,
    KILN_REGISTRY: infra.registry.address,
    REGISTRY_AUTH_FILE: baseImage.authFile,
  };

  const made = await cli(env, "new-build", site.dir, "--name", "site");
  expect(made.stderr).toBe("");
  expect(made.code).toBe(0);
  expect(made.stdout).toContain(
    "--> Source strategy with BuilderTemplate static (version latest, detected by index.html)",
  );
  expect(made.stdout).toContain("imagestream.kiln.dev/site created");
  expect(made.stdout).toContain("buildconfig.kiln.dev/site created");
  expect(made.stdout).toMatch(/Webhook GitHub:\n {2}URL: {12}http.*\/hooks\/default\/site\/github/);
  expect(made.stdout).toMatch(/Webhook secret \(shown only now; <secret> above\): [0-9a-f]{40}\n/);

  const shellMade = await cli(env, "new-build", `${shell.url}#main`, "--to", "tools:v1");
  expect(shellMade.stdout).toContain("BuilderTemplate shell (version latest, detected by app.sh)");
  const dockerMade = await cli(env, "new-build", docker.dir, "--name", "noted");
  expect(dockerMade.stdout).toContain("--> Docker strategy: the repository's Dockerfile");

  const names = ["site-1", `${shellName(shellMade.stdout)}-1`, "noted-1"];
  for (const name of names) {
    const build = await waitForBuild(call, name, finished, 300_000);
    const log = (await call("GET", `/apis/v1/namespaces/default/builds/${name}/log`)).text;
    expect(build.status.phase, log).toBe("Complete");
  }
  const image = async (name: string) =>
    (await call("GET", `/apis/v1/namespaces/default/builds/${name}`)).json.status.output
      .imageReference as string;
  await inImage(baseImage, await image("site-1"), async (run, config) => {
    expect(config.Cmd).toEqual(["/usr/libexec/s2i/run"]);
    expect(await run("/bin/cat", "/opt/app-root/src/index.html")).toBe(
      "<h1>hello from a template</h1>\n",
    );
  });
  await inImage(baseImage, await image(names[1]!), async (run, config) => {
    expect((await run(...config.Cmd, "hi")).trim()).toBe("shell app says hi");
  });
  await inImage(baseImage, await image("noted-1"), async (run, config) => {
    expect((await run(...config.Cmd)).trim()).toBe("built from the Dockerfile");
  });
  // The shell app went where --to said.
  const shellBuild = (await call("GET", `/apis/v1/namespaces/default/builds/${names[1]}`)).json;
  expect(shellBuild.status.output.imageReference).toMatch(
    new RegExp(`^${infra.registry.address}/default/tools@sha256:`),
  );
});

/** The BuildConfig name new-build printed (`buildconfig.kiln.dev/NAME created`). */
function shellName(stdout: string): string {
  const match = /buildconfig\.kiln\.dev\/(\S+) created/.exec(stdout);
  if (!match) throw new Error(`no BuildConfig in ${stdout}`);
  return match[1]!;
}
