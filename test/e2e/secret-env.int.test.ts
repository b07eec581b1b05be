import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
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
import { runImage } from "../support/images.js";

// env[].valueFrom.secretKeyRef on the local engine, end to end: the real services, real buildah
// and registry. The value must reach the build and nowhere a user or operator can read.

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const envValue = "env-value-7d1c0ffee-never-logged";
const argValue = "arg-value-51ab-never-logged";
const hash = (text: string) => createHash("sha256").update(text).digest("hex");

function buildConfig(name: string, docker: Record<string, unknown>) {
  return {
    apiVersion: "build.openshift.io/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: "" } },
      strategy: { dockerStrategy: docker },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

const fromSecret = (name: string, secret: string, key: string) => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

async function filesText(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), "utf8")),
  );
  return texts.join("\n");
}

test("a Docker build's env and build args read from an Opaque Secret reach its RUN steps, and the values are in no build log, API response or service log; a missing Secret or key fails the build MissingSecret naming them", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // The RUN step prints hashes of what it sees: the values themselves must never be printed.
  await using repo = await makeGitRepo({
    // The env is set after FROM, as OpenShift sets it: RUN sees it, and so does the image.
    Dockerfile: `FROM ${baseImage.ref}\nARG BUILD_TOKEN\nRUN echo "arg-hash=$(printf %s "$BUILD_TOKEN" | sha256sum | cut -d' ' -f1) env-hash=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"\nCMD ["/bin/sh", "-c", "printf %s \\"$TOKEN\\" | sha256sum"]\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const withRepo = (doc: ReturnType<typeof buildConfig>) => {
    doc.spec.source.git.uri = repo.url;
    return doc;
  };
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "app-secrets" },
        stringData: { token: envValue, "build-token": argValue },
      },
      withRepo(
        buildConfig("reads", {
          env: [fromSecret("TOKEN", "app-secrets", "token")],
          buildArgs: [fromSecret("BUILD_TOKEN", "app-secrets", "build-token")],
        }),
      ),
      withRepo(buildConfig("no-key", { env: [fromSecret("TOKEN", "app-secrets", "nope")] })),
      withRepo(buildConfig("no-secret", { env: [fromSecret("TOKEN", "absent", "token")] })),
      withRepo(
        buildConfig("optional", {
          env: [
            {
              name: "TOKEN",
              valueFrom: { secretKeyRef: { name: "absent", key: "x", optional: true } },
            },
          ],
        }),
      ),
    ],
  });
  expect(applied.status, applied.text).toBe(200);
  expect(applied.json.warnings ?? []).toEqual([]);

  const run = async (name: string) => {
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      {},
    );
    expect([201, 202], started.text).toContain(started.status);
    const done = await waitForBuild(call, `${name}-1`, finished, 170_000);
    const log = (await call("GET", `/apis/v1/namespaces/default/builds/${name}-1/log`)).text;
    const json = (await call("GET", `/apis/v1/namespaces/default/builds/${name}-1`)).text;
    return { status: done.status, log, json };
  };

  const reads = await run("reads");
  expect(reads.status.phase, reads.log).toBe("Complete");
  expect(reads.log).toContain(`arg-hash=${hash(argValue)} env-hash=${hash(envValue)}`);
  // The strategy's env is in the image, as OpenShift's Docker strategy puts it there.
  expect(await runImage(baseImage, reads.status.output.imageReference)).toMatch(
    new RegExp(`^${hash(envValue)}\\s`),
  );

  const noKey = await run("no-key");
  expect(noKey.status).toMatchObject({
    phase: "Failed",
    reason: "MissingSecret",
    message:
      "spec.strategy.dockerStrategy.env[0] (TOKEN) reads key nope of Secret default/app-secrets: the Secret has no such key",
  });
  const noSecret = await run("no-secret");
  expect(noSecret.status).toMatchObject({
    phase: "Failed",
    reason: "MissingSecret",
    message:
      "spec.strategy.dockerStrategy.env[0] (TOKEN) reads key token of Secret default/absent: the Secret does not exist",
  });
  // Optional, as in Kubernetes: the variable is left unset.
  const optional = await run("optional");
  expect(optional.status.phase, optional.log).toBe("Complete");
  expect(await runImage(baseImage, optional.status.output.imageReference)).toMatch(
    new RegExp(`^${hash("")}\\s`),
  );

  const everything = [
    ...[reads, noKey, noSecret, optional].flatMap((b) => [b.log, b.json]),
    (await call("GET", "/apis/v1/namespaces/default/builds")).text,
    (await call("GET", "/apis/v1/namespaces/default/buildconfigs/reads")).text,
    await filesText(running.logsDir),
  ].join("\n");
  // The stored spec keeps the reference, not the value.
  expect(JSON.parse(reads.json).spec.strategy.dockerStrategy.env).toEqual([
    {
      name: "TOKEN",
      value: "",
      valueFrom: { secretKeyRef: { name: "app-secrets", key: "token" } },
    },
  ]);
  for (const secret of [envValue, argValue]) expect(everything).not.toContain(secret);
});

/**
 * What another local user sees while builds run: every process's command line (world-readable)
 * and whatever environments it may read, sampled until `stop` is called. Lines are deduplicated.
 */
function watchProcessesAs(user: { uid: number; gid: number }) {
  const seen = new Set<string>();
  let partial = "";
  const reader = spawn(
    "sh",
    [
      "-c",
      'while :; do for p in /proc/[0-9]*; do cat "$p/cmdline" "$p/environ" 2>/dev/null | tr "\\0" " "; echo; done; done',
    ],
    { ...user, stdio: ["ignore", "pipe", "ignore"] },
  );
  reader.stdout.setEncoding("utf8");
  reader.stdout.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) seen.add(line);
  });
  return {
    seen,
    async stop() {
      reader.kill("SIGKILL");
      await once(reader, "exit");
      if (partial) seen.add(partial);
    },
  };
}

test("while a build with env and build args from a Secret runs, another local user finds the values in no process's command line or environment; the build still gets them; a name buildah reads itself is refused at apply", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using repo = await makeGitRepo({
    // Long enough for the sampler to see buildah's command line several times.
    Dockerfile: `FROM ${baseImage.ref}\nARG BUILD_TOKEN\nRUN sleep 4; echo "arg-hash=$(printf %s "$BUILD_TOKEN" | sha256sum | cut -d' ' -f1)"\nCMD ["/bin/sh", "-c", "printf %s \\"$TOKEN\\" | sha256sum"]\n`,
  });
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const doc = buildConfig("watched", {
    env: [fromSecret("TOKEN", "app-secrets", "token")],
    buildArgs: [fromSecret("BUILD_TOKEN", "app-secrets", "build-token")],
  });
  doc.spec.source.git.uri = repo.url;
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "app-secrets" },
    stringData: { token: envValue, "build-token": argValue },
  };

  // A Secret-read name buildah itself reads would steer buildah: refused, naming the field.
  for (const [list, name] of [
    ["env", "PATH"],
    ["buildArgs", "CONTAINERS_REGISTRIES_CONF"],
    ["env", "REGISTRY_AUTH_FILE"],
    ["buildArgs", "XDG_RUNTIME_DIR"],
  ] as const) {
    const bad = buildConfig("steers", { [list]: [fromSecret(name, "app-secrets", "token")] });
    const refused = await call("POST", "/apis/v1/apply", { items: [secret, bad] });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.text).toContain(`spec.strategy.dockerStrategy.${list}[0].name`);
    expect(refused.text).toContain("read by buildah from its own environment");
  }
  expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs/steers")).status).toBe(404);

  const applied = await call("POST", "/apis/v1/apply", { items: [secret, doc] });
  expect(applied.status, applied.text).toBe(200);

  const nobody = { uid: 65534, gid: 65534 };
  const watcher = watchProcessesAs(nobody);
  let log: string;
  let imageReference: string;
  try {
    const started = await call(
      "POST",
      "/apis/v1/namespaces/default/buildconfigs/watched/instantiate",
      {},
    );
    expect([201, 202], started.text).toContain(started.status);
    const done = await waitForBuild(call, "watched-1", finished, 170_000);
    log = (await call("GET", "/apis/v1/namespaces/default/builds/watched-1/log")).text;
    expect(done.status.phase, log).toBe("Complete");
    imageReference = done.status.output.imageReference;
  } finally {
    await watcher.stop();
  }
  const seen = [...watcher.seen].join("\n");
  for (const value of [envValue, argValue]) expect(seen.includes(value), value).toBe(false);
  // And the sampler did catch the build's buildah: its command line names the variables only.
  // (The env's value rides a private build arg, set after FROM as `ENV TOKEN="${KILN_STAGE_ENV_0}"`.)
  expect(seen).toMatch(/ bud .*--build-arg BUILD_TOKEN --build-arg KILN_STAGE_ENV_0 /);
  // And the build got them: the RUN step's build arg, the image's env.
  expect(log).toContain(`arg-hash=${hash(argValue)}`);
  expect(await runImage(baseImage, imageReference)).toMatch(new RegExp(`^${hash(envValue)}\\s`));
});
