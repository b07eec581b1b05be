import { afterEach, expect } from "vitest";
import {
  buildS2IBuilderImage,
  integrationTest as test,
  makeGitRepo,
  type WorkerInfra,
} from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { runImage } from "../support/images.js";
import { runnerBuildah } from "../support/runner-store.js";

// spec.postCommit on the local engine, end to end: real buildah (the runner's rootless
// isolation), the real registry, the real services.

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** What the registry itself serves for `default/<name>:latest`: the manifest's HTTP status. */
async function manifestStatus(infra: WorkerInfra, name: string): Promise<number> {
  const res = await fetch(`${infra.registry.url}/v2/default/${name}/manifests/latest`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return res.status;
}

function buildConfig(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: { ...spec, output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } } },
  };
}

async function build(kiln: RunningKiln, name: string, body: unknown = {}) {
  const call = api(kiln);
  const started = await call(
    "POST",
    `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
    body,
  );
  expect([201, 202]).toContain(started.status);
  const done = await waitForBuild(call, `${name}-1`, finished, 170_000);
  const log = (await call("GET", `/apis/v1/namespaces/default/builds/${name}-1/log`)).text;
  return { status: done.status, log };
}

/** The step markers of a log, in order (buildah's own `--> <image id>` lines are not). */
function steps(log: string): string[] {
  return log
    .split("\n")
    .filter((l) => /^--> [A-Z]\w*$/.test(l))
    .map((l) => l.slice(4));
}

/** Images left in the runner's store by a build (its local image, the hook's scratch image). */
async function leftImages(infra: WorkerInfra, build: string): Promise<string[]> {
  const names = await runnerBuildah(infra, "images", "--format", "{{.Name}}:{{.Tag}}");
  return names.split("\n").filter((n) => n.includes(`/kiln/default/${build}`));
}

test("Docker strategy: a passing hook runs in the new image with the build's env before the push; a failing one fails the build PostCommitHookFailed and nothing is pushed", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN mkdir -p /app && echo unit-tests-ok > /app/result\nWORKDIR /app\nCMD ["ls", "/app"]\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      buildConfig("passing", {
        source: { git: { uri: repo.url } },
        strategy: {
          type: "Docker",
          dockerStrategy: { env: [{ name: "GREETING", value: "from-strategy" }] },
        },
        // The hook writes into its container: none of it may reach the pushed image.
        postCommit: {
          script:
            'echo "hook in $PWD greeting=$GREETING extra=$EXTRA arg=$1"; cat result; echo x > hook-was-here',
          args: ["first-arg"],
        },
      }),
      buildConfig("failing", {
        source: { git: { uri: repo.url } },
        strategy: { type: "Docker" },
        postCommit: { command: ["/bin/sh", "-c", "echo failing-test-output; exit 3"] },
      }),
    ],
  });
  expect(applied.status, applied.text).toBe(200);

  const passing = await build(running, "passing", {
    env: [{ name: "EXTRA", value: "from-start-build" }],
  });
  expect(passing.status.phase, passing.log).toBe("Complete");
  expect(steps(passing.log), passing.log).toEqual([
    "FetchSource",
    "Build",
    "Commit",
    "PostCommit",
    "Push",
  ]);
  const hookPart = passing.log.slice(passing.log.indexOf("--> PostCommit"));
  // Its WORKDIR, the strategy's env and the build's, $1 from args, the built files.
  expect(hookPart).toContain(
    "hook in /app greeting=from-strategy extra=from-start-build arg=first-arg",
  );
  expect(hookPart).toContain("unit-tests-ok");
  expect(hookPart).not.toContain(":post-commit");
  expect(hookPart).toMatch(/The post-commit hook passed in \d+\.\d s/);
  expect(await manifestStatus(infra, "passing")).toBe(200);
  expect((await runImage(baseImage, passing.status.output.imageReference)).trim()).toBe("result");

  const failing = await build(running, "failing");
  expect(failing.status.phase, failing.log).toBe("Failed");
  expect(failing.status.reason).toBe("PostCommitHookFailed");
  expect(failing.status.message).toMatch(/^the post-commit hook failed \(exit 3\) after/);
  expect(steps(failing.log), failing.log).toEqual(["FetchSource", "Build", "Commit", "PostCommit"]);
  expect(failing.log).toContain("failing-test-output");
  expect(await manifestStatus(infra, "failing")).toBe(404);
  expect(await leftImages(infra, "failing-1")).toEqual([]);
  expect(await leftImages(infra, "passing-1")).toEqual([]);
});

test("Source strategy: the hook runs before anything is pushed (not as the layer is committed), as the assemble user; a failing one leaves the output tag empty", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: `${infra.registry.address}/s2i/hook-builder:latest`,
    scripts: {
      assemble:
        "#!/bin/sh\nset -e\nmkdir -p /opt/app-root/src\ncp -R /tmp/src/. /opt/app-root/src/\n",
      run: "#!/bin/sh\ncat /opt/app-root/src/message.txt\n",
    },
  });
  await using repo = await makeGitRepo({ "message.txt": "assembled-message" });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const source = (env: { name: string; value: string }[]) => ({
    type: "Source",
    sourceStrategy: { from: { kind: "DockerImage", name: builder.ref }, env },
  });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      buildConfig("s2i-passing", {
        source: { git: { uri: repo.url } },
        strategy: source([{ name: "GREETING", value: "s2i-strategy" }]),
        // args alone: the builder has no entrypoint, so they are the command.
        postCommit: {
          args: [
            "/bin/sh",
            "-c",
            "echo s2i-hook uid=$(id -u) greeting=$GREETING; cat /opt/app-root/src/message.txt",
          ],
        },
      }),
      buildConfig("s2i-failing", {
        source: { git: { uri: repo.url } },
        strategy: source([]),
        postCommit: { script: "echo s2i-tests-failed; exit 1" },
      }),
    ],
  });
  expect(applied.status, applied.text).toBe(200);

  const passing = await build(running, "s2i-passing");
  expect(passing.status.phase, passing.log).toBe("Complete");
  expect(steps(passing.log), passing.log).toEqual([
    "FetchSource",
    "PullImages",
    "Assemble",
    "Commit",
    "PostCommit",
    "Push",
  ]);
  expect(passing.log).toContain("s2i-hook uid=1001 greeting=s2i-strategy");
  // The file has no newline at its end: still a line of its own, and none of buildah's
  // chatter about the hook's scratch image follows it.
  expect(passing.log.split("\n")).toContain("assembled-message");
  expect(passing.log).not.toContain(":post-commit");
  expect(await manifestStatus(infra, "s2i-passing")).toBe(200);

  const failing = await build(running, "s2i-failing");
  expect(failing.status.phase, failing.log).toBe("Failed");
  expect(failing.status.reason).toBe("PostCommitHookFailed");
  expect(failing.log).toContain("s2i-tests-failed");
  expect(steps(failing.log), failing.log).not.toContain("Push");
  expect(await manifestStatus(infra, "s2i-failing")).toBe(404);
  expect(await leftImages(infra, "s2i-failing-1")).toEqual([]);
});

test("an empty hook is refused at apply, naming the field, and nothing is created", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const refused = await call("POST", "/apis/v1/apply", {
    items: [
      buildConfig("empty-hook", {
        source: { dockerfile: "FROM scratch\n" },
        strategy: { type: "Docker" },
        postCommit: { script: "" },
      }),
    ],
  });
  expect(refused.status).toBe(400);
  expect(refused.text).toContain("items[0].spec.postCommit.script");
  expect(refused.text).toContain("must not be empty");
  expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs/empty-hook")).status).toBe(
    404,
  );
});
