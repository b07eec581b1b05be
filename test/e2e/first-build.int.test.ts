import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { buildahArgs, integrationTest as test, makeGitRepo } from "@kiln/testing";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { kiln } from "../support/cli.js";

const exec = promisify(execFile);

function dockerBuildConfig(name: string, gitUri: string) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: gitUri, ref: "main" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

test("start-build --follow streams the log live and pushes the image by digest", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo built-by-kiln > /built.txt\nCMD ["cat", "/built.txt"]\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  expect(
    (await call("POST", "/apis/v1/apply", { items: [dockerBuildConfig("hello", repo.url)] }))
      .status,
  ).toBe(200);

  const started = await kiln(running.cliEnv, "start-build", "hello", "--follow");
  expect(started.stderr).not.toMatch(/error/i);
  expect(started.code).toBe(0);
  expect(started.stdout).toContain("build.kiln.dev/hello-1 started");
  // The log shows each step and the Dockerfile's own output, then the pushed reference.
  for (const marker of [
    "--> FetchSource",
    `Commit ${repo.commit}`,
    "--> Build",
    "--> Commit",
    "--> Push",
    "Pushed ",
  ]) {
    expect(started.stdout).toContain(marker);
  }

  const build = await waitForBuild(call, "hello-1", (p) => p === "Complete");
  const { digest, imageReference } = build.status.output;
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  // The size recorded is what the registry holds: a busybox layer plus a tiny one, not zero.
  expect(build.status.output.size).toBeGreaterThan(500_000);
  expect(build.status.output.size).toBeLessThan(5_000_000);
  expect(imageReference).toBe(`${infra.registry.address}/default/hello@${digest}`);
  // The build records the commit it built, though only the branch was asked for.
  expect(build.spec.revision).toMatchObject({
    commit: repo.commit,
    ref: "main",
    message: "initial commit",
  });

  // The registry holds exactly that manifest under the tag.
  const head = await fetch(`${infra.registry.url}/v2/default/hello/manifests/latest`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  expect(head.headers.get("docker-content-digest")).toBe(digest);

  // And the pushed image runs: its CMD prints what the Dockerfile wrote.
  const buildah = buildahArgs(baseImage.storageDir);
  const { stdout: ctr } = await exec("buildah", [
    ...buildah,
    "from",
    "--tls-verify=false",
    "--authfile",
    infra.registry.authFile,
    imageReference,
  ]);
  try {
    const { stdout: inspected } = await exec("buildah", [
      ...buildah,
      "inspect",
      "--type",
      "container",
      ctr.trim(),
    ]);
    const config = JSON.parse(inspected).OCIv1.config as {
      Cmd: string[];
      Labels: Record<string, string>;
    };
    const { stdout } = await exec("buildah", [
      ...buildah,
      "run",
      "--isolation",
      "chroot",
      ctr.trim(),
      "--",
      ...config.Cmd,
    ]);
    expect(stdout.trim()).toBe("built-by-kiln");
    expect(config.Labels).toMatchObject({
      "io.openshift.build.commit.id": repo.commit,
      "io.openshift.build.source-location": repo.url,
      "kiln.dev/buildconfig": "hello",
      "kiln.dev/build": "hello-1",
    });
  } finally {
    await exec("buildah", [...buildah, "rm", ctr.trim()]);
  }

  // `kiln logs` replays the same log after the build ended.
  const replay = await kiln(running.cliEnv, "logs", "build/hello-1");
  expect(replay.code).toBe(0);
  expect(replay.stdout).toContain("--> Push");
});

test("a broken Dockerfile ends Failed with its reason and log tail; the follow exits non-zero", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo about-to-fail && false\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", { items: [dockerBuildConfig("broken", repo.url)] });

  const followed = await kiln(running.cliEnv, "start-build", "broken", "--follow");
  expect(followed.code).not.toBe(0);
  expect(followed.stdout).toContain("about-to-fail");
  expect(followed.stderr).toContain("DockerBuildFailed");

  const build = await waitForBuild(
    call,
    "broken-1",
    (p) => p !== "New" && p !== "Pending" && p !== "Running",
  );
  expect(build.status.phase).toBe("Failed");
  expect(build.status.reason).toBe("DockerBuildFailed");
  expect(build.status.logSnippet).toContain("about-to-fail");
});

test("an unreachable repository ends Failed with FetchSourceFailed and the services keep working", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [dockerBuildConfig("nowhere", "file:///nonexistent/repo.git")],
  });

  const started = await call(
    "POST",
    "/apis/v1/namespaces/default/buildconfigs/nowhere/instantiate",
    {},
  );
  expect(started.status).toBe(201);
  const build = await waitForBuild(
    call,
    "nowhere-1",
    (p) => p === "Failed" || p === "Error" || p === "Complete",
  );
  expect(build.status.phase).toBe("Failed");
  expect(build.status.reason).toBe("FetchSourceFailed");

  // Nothing crashed: a second build is numbered and handled the same way.
  expect(
    (await call("POST", "/apis/v1/namespaces/default/buildconfigs/nowhere/instantiate", {})).json
      .metadata.name,
  ).toBe("nowhere-2");
  expect((await waitForBuild(call, "nowhere-2", (p) => p === "Failed")).status.reason).toBe(
    "FetchSourceFailed",
  );
  for (const proc of running.processes.values()) expect(proc.running).toBe(true);
});

test("an inline Dockerfile builds with build args and the strategy's from override, without any git source", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      // It pushes to the `custom` namespace, which lets `default` do so.
      {
        apiVersion: "kiln.dev/v1",
        kind: "ImageStreamGrant",
        metadata: { name: "default-pushes", namespace: "custom" },
        spec: { grantee: { namespace: "default" }, access: ["push"] },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "inline" },
        spec: {
          // The FROM here is replaced by dockerStrategy.from, as in OpenShift.
          source: {
            dockerfile:
              'FROM placeholder.invalid/none\nARG GREETING\nRUN echo "greeting=$GREETING"\n',
          },
          strategy: {
            type: "Docker",
            dockerStrategy: {
              from: { kind: "DockerImage", name: baseImage.ref },
              buildArgs: [{ name: "GREETING", value: "hello-arg" }],
            },
          },
          output: {
            to: { kind: "DockerImage", name: `${infra.registry.address}/custom/inline:v1` },
          },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  const started = await kiln(running.cliEnv, "start-build", "inline", "--follow");
  expect(started.code).toBe(0);
  expect(started.stdout).toContain("greeting=hello-arg");
  const build = await waitForBuild(call, "inline-1", (p) => p === "Complete");
  expect(build.status.output.imageReference).toMatch(
    new RegExp(`^${infra.registry.address}/custom/inline@sha256:`),
  );
});
