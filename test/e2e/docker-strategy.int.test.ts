import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { inImage, runImage } from "../support/images.js";
import { runnerBuildah, workDirLeftovers } from "../support/runner-store.js";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

test("a chained runtime build copies the binary out of the first build's image (image sources)", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN mkdir -p /app/bin && printf '#!/bin/sh\\necho compiled-by-stage-one\\n' > /app/bin/hello && chmod +x /app/bin/hello\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "runtime" },
        spec: {
          source: {
            dockerfile: `FROM ${baseImage.ref}\nCOPY bin/hello /hello\nCMD ["/hello"]\n`,
            images: [
              {
                from: { kind: "ImageStreamTag", name: "app:latest" },
                paths: [{ sourcePath: "/app/bin/hello", destinationDir: "bin" }],
              },
            ],
          },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "runtime:latest" } },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  expect((await waitForBuild(call, "app-1", finished)).status.phase).toBe("Complete");
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/runtime/instantiate", {});
  const runtime = await waitForBuild(call, "runtime-1", finished);
  expect(runtime.status.phase).toBe("Complete");
  // The runtime build resolved the ImageStreamTag to the registry reference it pulled.
  expect(runtime.spec.source.images[0].from).toEqual({
    kind: "DockerImage",
    name: `${infra.registry.address}/default/app:latest`,
  });
  const log = await call("GET", "/apis/v1/namespaces/default/builds/runtime-1/log");
  expect(log.text).toContain("--> PullImages");
  expect(log.text).toContain("Copied /app/bin/hello");
  expect(await runImage(baseImage, runtime.status.output.imageReference)).toBe(
    "compiled-by-stage-one",
  );
  expect(
    await runnerBuildah(infra, "containers", "--format", "{{.ContainerName}} {{.ImageName}}"),
  ).toBe("");
});

test("an image source path that is not in the image fails the build with PullImageFailed, naming it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "missing" },
        spec: {
          source: {
            dockerfile: `FROM ${baseImage.ref}\n`,
            images: [
              {
                from: { kind: "DockerImage", name: baseImage.ref },
                paths: [{ sourcePath: "/no/such/file", destinationDir: "." }],
              },
            ],
          },
          strategy: { type: "Docker" },
        },
      },
    ],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/missing/instantiate", {});
  const build = await waitForBuild(call, "missing-1", finished);
  expect(build.status.phase).toBe("Failed");
  expect(build.status.reason).toBe("PullImageFailed");
  expect(build.status.message).toContain("/no/such/file");
});

test("completionDeadlineSeconds ends a build Failed with DeadlineExceeded, and no build leaves a container or a work dir", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({ Dockerfile: `FROM ${baseImage.ref}\nRUN sleep 60\n` });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "slow" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: { type: "Docker" },
          completionDeadlineSeconds: 3,
        },
      },
    ],
  });
  const started = Date.now();
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/slow/instantiate", {});
  const build = await waitForBuild(call, "slow-1", finished, 30_000);
  expect(build.status.phase).toBe("Failed");
  expect(build.status.reason).toBe("DeadlineExceeded");
  expect(Date.now() - started).toBeLessThan(15_000);

  // Nothing of any build is left: no buildah containers in the runner's store, no work dirs.
  expect(
    await runnerBuildah(infra, "containers", "--format", "{{.ContainerName}} {{.ImageName}}"),
  ).toBe("");
  expect(await workDirLeftovers(join(infra.workDir, "work", subjectPrefix))).toEqual([]);
});

test("a Docker strategy's env is set after every FROM, as OpenShift's builder sets it: each stage's RUN steps see it, the image's config has it, and the Dockerfile's own ENV of the same name wins", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    Dockerfile: [
      `FROM ${baseImage.ref} AS first`,
      'RUN echo "first-stage GREETING=$GREETING" | tee /first.txt',
      `FROM ${baseImage.ref}`,
      // (buildah skips a stage nothing uses.)
      "COPY --from=first /first.txt /first.txt",
      "ENV OVERRIDDEN=from-dockerfile",
      'RUN echo "second-stage GREETING=$GREETING DOLLAR=$DOLLAR OVERRIDDEN=$OVERRIDDEN FROM_BUILD=$FROM_BUILD"',
      "",
    ].join("\n"),
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "build.openshift.io/v1",
        kind: "BuildConfig",
        metadata: { name: "envs" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: {
            type: "Docker",
            dockerStrategy: {
              env: [
                { name: "GREETING", value: "hello there" },
                // Literal, as buildah's --env took it: no expansion.
                { name: "DOLLAR", value: "a$HOME\\b" },
                { name: "OVERRIDDEN", value: "from-strategy" },
                { name: "MULTI", value: "line one\nline two" },
              ],
            },
          },
          output: { to: { kind: "ImageStreamTag", name: "envs:latest" } },
        },
      },
    ],
  });
  expect(applied.status, applied.text).toBe(200);
  // The build's own env (`start-build --env`) is set with it, and wins.
  const started = await call("POST", "/apis/v1/namespaces/default/buildconfigs/envs/instantiate", {
    env: [
      { name: "FROM_BUILD", value: "yes" },
      { name: "GREETING", value: "hi" },
    ],
  });
  expect([201, 202], started.text).toContain(started.status);
  const done = await waitForBuild(call, "envs-1", finished, 170_000);
  const log = (await call("GET", "/apis/v1/namespaces/default/builds/envs-1/log")).text;
  expect(done.status.phase, log).toBe("Complete");
  expect(log).toContain("\nfirst-stage GREETING=hi\n");
  expect(log).toContain(
    "\nsecond-stage GREETING=hi DOLLAR=a$HOME\\b OVERRIDDEN=from-dockerfile FROM_BUILD=yes\n",
  );
  await inImage(baseImage, done.status.output.imageReference, async (_run, config) => {
    const env = (config.Env ?? []).filter((e) => !e.startsWith("PATH="));
    expect(env).toEqual([
      "GREETING=hi",
      "DOLLAR=a$HOME\\b",
      "OVERRIDDEN=from-dockerfile",
      "MULTI=line one\nline two",
      "FROM_BUILD=yes",
    ]);
  });
});

test("a FROM or a builder image whose tag the registry does not have fails the build PullImageFailed with buildah's reason in the status message and the log", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // The base's repository exists; this tag of it does not.
  const missing = baseImage.ref.replace(/:[^:/]+$/, ":no-such-tag");
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const bc = (
    name: string,
    strategy: Record<string, unknown>,
    source: Record<string, unknown>,
  ) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: { source, strategy, output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } } },
  });
  await using repo = await makeGitRepo({ "app.txt": "x\n" });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      bc("from-missing", { type: "Docker" }, { dockerfile: `FROM ${missing}\nRUN true\n` }),
      bc(
        "builder-missing",
        { type: "Source", sourceStrategy: { from: { kind: "DockerImage", name: missing } } },
        { git: { uri: repo.url } },
      ),
    ],
  });
  expect(applied.status, applied.text).toBe(200);
  for (const name of ["from-missing", "builder-missing"]) {
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      {},
    );
    expect([201, 202], started.text).toContain(started.status);
    const done = await waitForBuild(call, `${name}-1`, finished, 170_000);
    const log = (await call("GET", `/apis/v1/namespaces/default/builds/${name}-1/log`)).text;
    expect(done.status.phase, log).toBe("Failed");
    expect(done.status.reason, log).toBe("PullImageFailed");
    // The registry's answer, as buildah gives it, and the exit code.
    expect(done.status.message).toMatch(/: .*manifest unknown.* \(exit 125\)$/);
    expect(log).toMatch(/^Error: .*no-such-tag.*manifest unknown/m);
  }
  // The S2I build names the reference it pulled.
  const s2iLog = (await call("GET", "/apis/v1/namespaces/default/builds/builder-missing-1/log"))
    .text;
  expect(s2iLog).toContain(`Pulling ${missing}\n`);
});
