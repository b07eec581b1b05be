import { join } from "node:path";
import { afterEach, expect } from "vitest";
import {
  buildS2IBuilderImage,
  integrationTest as test,
  makeGitRepo,
  type BaseImage,
  type WorkerInfra,
} from "@kiln/testing";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { runnerBuildah, workDirLeftovers } from "../support/runner-store.js";
import { inImage } from "../support/images.js";

/** A builder as an image author makes one: scripts in /usr/libexec/s2i, label, USER 1001. */
const builderScripts = {
  assemble: `#!/bin/sh
set -e
echo "assemble uid=$(id -u)"
echo "assemble GREETING=\${GREETING:-unset}"
mkdir -p /opt/app-root/deps /opt/app-root/src
if [ -f /tmp/artifacts/deps/deps.txt ]; then
  echo "reusing artifacts: $(cat /tmp/artifacts/deps/deps.txt)"
  cp /tmp/artifacts/deps/deps.txt /opt/app-root/deps/deps.txt
else
  echo "no artifacts: fetching dependencies"
  echo "deps-v1" > /opt/app-root/deps/deps.txt
fi
cp -R /tmp/src/. /opt/app-root/src/
`,
  run: `#!/bin/sh
echo "app: $(cat /opt/app-root/src/message.txt) greeting=\${GREETING:-unset} uid=$(id -u)"
`,
  "save-artifacts": `#!/bin/sh
cd /opt/app-root && tar cf - deps
`,
};

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function builderImage(
  infra: WorkerInfra,
  baseImage: BaseImage,
  name: string,
  extra: Partial<Parameters<typeof buildS2IBuilderImage>[0]> = {},
) {
  return buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: `${infra.registry.address}/s2i/${name}:latest`,
    scripts: builderScripts,
    files: { "/opt/toolchain/compiler.txt": "a big toolchain\n" },
    ...extra,
  });
}

function sourceBuildConfig(name: string, gitUri: string, sourceStrategy: Record<string, unknown>) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: gitUri, ref: "main" } },
      strategy: { type: "Source", sourceStrategy },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

async function buildAndWait(kiln: RunningKiln, buildConfig: string, n: number, phase = "Complete") {
  const call = api(kiln);
  const started = await call(
    "POST",
    `/apis/v1/namespaces/default/buildconfigs/${buildConfig}/instantiate`,
    {},
  );
  // 202: the scheduler had not created the build yet (a busy machine); it will, under this name.
  expect([201, 202]).toContain(started.status);
  const build = await waitForBuild(
    call,
    `${buildConfig}-${n}`,
    (p) => ["Complete", "Failed", "Error", "Cancelled"].includes(p),
    170_000,
  );
  const log = (await call("GET", `/apis/v1/namespaces/default/builds/${buildConfig}-${n}/log`))
    .text;
  if (build.status.phase !== phase)
    throw new Error(
      `build ${buildConfig}-${n} ended ${build.status.phase} (${build.status.reason}: ${build.status.message})\n${log}`,
    );
  return { build, log };
}

test("an unchanged S2I builder builds a repository as a non-root user and the image runs its run script", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder");
  await using repo = await makeGitRepo({
    "message.txt": "hello from s2i",
    ".s2i/environment": "GREETING=from-environment-file\n# a comment\n",
    ".s2iignore": "secret-notes.txt\n",
    "secret-notes.txt": "must not ship",
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  expect(
    (
      await call("POST", "/apis/v1/apply", {
        items: [
          sourceBuildConfig("app", repo.url, { from: { kind: "DockerImage", name: builder.ref } }),
        ],
      })
    ).status,
  ).toBe(200);

  const { build, log } = await buildAndWait(running, "app", 1);
  const markers = [
    "--> FetchSource",
    "--> PullImages",
    "--> Assemble",
    "--> Commit",
    "--> Push",
  ].map((m) => log.indexOf(m));
  expect(
    markers.every((at, i) => at >= 0 && (i === 0 || at > markers[i - 1]!)),
    log,
  ).toBe(true);
  // buildah pushed as it committed; the digest recorded is the one the registry's tag holds.
  const tagged = await fetch(`${infra.registry.url}/v2/default/app/manifests/latest`, {
    method: "HEAD",
    headers: {
      authorization: infra.registry.authorization,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  expect(tagged.headers.get("docker-content-digest")).toBe(build.status.output.digest);
  // assemble ran as the image's non-root user and saw .s2i/environment.
  expect(log).toContain("assemble uid=1001");
  expect(log).toContain("assemble GREETING=from-environment-file");
  expect(log).toContain("no artifacts: fetching dependencies");

  await inImage(baseImage, build.status.output.imageReference, async (run, config) => {
    expect(config.Cmd).toEqual(["/usr/libexec/s2i/run"]);
    expect(config.User).toBe("1001");
    // The image runs its run script, with the environment persisted.
    expect((await run(...config.Cmd)).trim()).toBe(
      "app: hello from s2i greeting=from-environment-file uid=1001",
    );
    expect(config.Labels).toMatchObject({
      "io.openshift.build.commit.id": repo.commit,
      "io.openshift.build.source-location": repo.url,
      "io.openshift.build.image": builder.ref,
      "io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i",
      "io.k8s.display-name": `${infra.registry.address}/default/app:latest`,
      "kiln.dev/buildconfig": "app",
      "kiln.dev/build": "app-1",
    });
    // No .git and nothing .s2iignore names in the image.
    const listing = await run("/bin/ls", "-a", "/tmp/src", "/opt/app-root/src");
    expect(listing).toContain("message.txt");
    expect(listing).not.toContain(".git");
    expect(listing).not.toContain("secret-notes.txt");
  });
});

test("scripts in the repository's .s2i/bin override the builder's", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder-override");
  await using repo = await makeGitRepo({
    "message.txt": "overridden",
    ".s2i/bin/assemble":
      '#!/bin/sh\nset -e\necho "custom assemble from the repo"\nmkdir -p /opt/app-root/src && cp -R /tmp/src/. /opt/app-root/src/\n',
    ".s2i/bin/run": '#!/bin/sh\necho "custom run: $(cat /opt/app-root/src/message.txt)"\n',
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  await api(running)("POST", "/apis/v1/apply", {
    items: [
      sourceBuildConfig("custom", repo.url, { from: { kind: "DockerImage", name: builder.ref } }),
    ],
  });
  const { build, log } = await buildAndWait(running, "custom", 1);
  expect(log).toContain("custom assemble from the repo");
  expect(log).not.toContain("assemble uid=");
  await inImage(baseImage, build.status.output.imageReference, async (run, config) => {
    expect(config.Cmd).toEqual(["/tmp/scripts/run"]);
    expect((await run(...config.Cmd)).trim()).toBe("custom run: overridden");
  });
});

test("a root assemble user is refused with AssembleUserNotAllowed before anything runs", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder-root", { user: "0" });
  await using repo = await makeGitRepo({ "message.txt": "x" });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  await api(running)("POST", "/apis/v1/apply", {
    items: [
      sourceBuildConfig("rooted", repo.url, { from: { kind: "DockerImage", name: builder.ref } }),
    ],
  });
  const { build, log } = await buildAndWait(running, "rooted", 1, "Failed");
  expect(build.status.reason).toBe("AssembleUserNotAllowed");
  expect(build.status.message).toContain("1-4294967294");
  expect(log).not.toContain("assemble uid=");
});

test("a builder without an assemble script fails with ScriptsNotFound", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder-empty", {
    scripts: {},
    labels: { "io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i" },
  });
  await using repo = await makeGitRepo({ "message.txt": "x" });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  await api(running)("POST", "/apis/v1/apply", {
    items: [
      sourceBuildConfig("noscripts", repo.url, {
        from: { kind: "DockerImage", name: builder.ref },
      }),
    ],
  });
  const { build } = await buildAndWait(running, "noscripts", 1, "Failed");
  expect(build.status.reason).toBe("ScriptsNotFound");
  expect(build.status.message).toContain("/usr/libexec/s2i/assemble");
});

test("an incremental build hands the previous image's saved artifacts to assemble", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder-incremental");
  await using repo = await makeGitRepo({ "message.txt": "incremental" });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  await api(running)("POST", "/apis/v1/apply", {
    items: [
      sourceBuildConfig("inc", repo.url, {
        from: { kind: "DockerImage", name: builder.ref },
        incremental: true,
      }),
    ],
  });
  // First build: no previous image, a clean build with a warning, not a failure.
  const first = await buildAndWait(running, "inc", 1);
  expect(first.log).toContain("no artifacts: fetching dependencies");
  expect(first.log).toMatch(/warning: incremental build not possible/);

  const second = await buildAndWait(running, "inc", 2);
  expect(second.log).toContain("reusing artifacts: deps-v1");
  // The tar went to a file, not to the log.
  expect(second.log).not.toContain("ustar");
  await inImage(baseImage, second.build.status.output.imageReference, async (run) => {
    expect((await run("/bin/cat", "/opt/app-root/deps/deps.txt")).trim()).toBe("deps-v1");
  });
  // Nothing left behind: the save-artifacts container and both builds' containers and work dirs are gone.
  expect((await runnerBuildah(infra, "containers", "--quiet")).trim()).toBe("");
  expect(await workDirLeftovers(join(infra.workDir, "work", subjectPrefix))).toEqual([]);
});

test("a runtime-image build ships the runtime base plus the artifacts, without the builder's toolchain", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const builder = await builderImage(infra, baseImage, "builder-rt");
  // A plain runtime image: busybox with a numeric non-root USER and no S2I scripts.
  const runtime = await buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: `${infra.registry.address}/s2i/runtime:latest`,
    user: "1001",
  });
  await using repo = await makeGitRepo({
    "message.txt": "from the runtime image",
    ".s2i/bin/run": '#!/bin/sh\necho "runtime app: $(cat /app/src/message.txt) uid=$(id -u)"\n',
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const localImages = async () =>
    (await runnerBuildah(infra, "images", "--all", "--quiet", "--no-trunc"))
      .split("\n")
      .filter(Boolean)
      .sort();
  const imageId = async (ref: string) =>
    (await runnerBuildah(infra, "images", "--quiet", "--no-trunc", ref)).trim();
  const imagesBefore = await localImages();
  const applied = await api(running)("POST", "/apis/v1/apply", {
    items: [
      sourceBuildConfig("slim", repo.url, {
        from: { kind: "DockerImage", name: builder.ref },
        runtimeImage: { kind: "DockerImage", name: runtime.ref },
        runtimeArtifacts: [{ sourcePath: "/opt/app-root/src", destinationDir: "app" }],
      }),
    ],
  });
  expect(applied.status).toBe(200);
  const { build, log } = await buildAndWait(running, "slim", 1);
  expect(log).toContain("assemble uid=1001");
  // Pushed as it was committed: neither the output nor the assemble stage's image stays behind,
  // only the builder and the runtime image it pulled (the runner's layer cache).
  const pulled = [await imageId(builder.ref), await imageId(runtime.ref)];
  expect(await localImages()).toEqual([...new Set([...imagesBefore, ...pulled])].sort());
  await inImage(baseImage, build.status.output.imageReference, async (run, config) => {
    expect((await run(...config.Cmd)).trim()).toBe("runtime app: from the runtime image uid=1001");
    const present = await run(
      "/bin/sh",
      "-c",
      "for f in /app/src/message.txt /opt/toolchain/compiler.txt /usr/libexec/s2i/assemble; do [ -e $f ] && echo yes:$f || echo no:$f; done",
    );
    expect(present).toContain("yes:/app/src/message.txt");
    expect(present).toContain("no:/opt/toolchain/compiler.txt");
    expect(present).toContain("no:/usr/libexec/s2i/assemble");
    expect(config.Labels).toMatchObject({
      "io.openshift.build.commit.id": repo.commit,
      "kiln.dev/build": "slim-1",
    });
  });
});

test("a sourceStrategy env read from a Secret reaches assemble and the image, and its value is in no build log", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const secretValue = "s2i-secret-5e7a-never-logged";
  const builder = await builderImage(infra, baseImage, "secret-builder", {
    scripts: {
      ...builderScripts,
      // Prints a hash of what it sees, never the value itself.
      assemble: `#!/bin/sh\nset -e\necho "assemble TOKEN-hash=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"\nmkdir -p /opt/app-root/src\ncp -R /tmp/src/. /opt/app-root/src/\n`,
    },
  });
  await using repo = await makeGitRepo({ "message.txt": "hi" });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "app-secrets" },
        stringData: { token: secretValue },
      },
      sourceBuildConfig("secret-env", repo.url, {
        from: { kind: "DockerImage", name: builder.ref },
        env: [
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "app-secrets", key: "token" } } },
        ],
      }),
    ],
  });
  expect(applied.status, applied.text).toBe(200);
  const { build, log } = await buildAndWait(running, "secret-env", 1);
  const { createHash } = await import("node:crypto");
  expect(log).toContain(
    `assemble TOKEN-hash=${createHash("sha256").update(secretValue).digest("hex")}`,
  );
  expect(log).not.toContain(secretValue);
  // The strategy's env is in the image, as OpenShift's S2I builds keep it.
  await inImage(baseImage, build.status.output.imageReference, async (_run, config) => {
    expect(config.Env).toContain(`TOKEN=${secretValue}`);
  });
});
