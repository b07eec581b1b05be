import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, startRegistry, type RegistryServer } from "@kiln/infra";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import { afterEach, expect } from "vitest";
import {
  api,
  finished,
  repoRoot,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { messageAppBuilder } from "../support/images.js";

const exec = promisify(execFile);
const user = "kiln-ci";
const password = "pw-9f3c1e7a-not-for-logs";

let running: RunningKiln | undefined;
let privateRegistry: RegistryServer | undefined;
afterEach(async () => {
  await running?.stop();
  await privateRegistry?.stop();
  running = undefined;
  privateRegistry = undefined;
});

/** A registry that wants basic auth, like a private Harbor or ECR would. bcrypt via libcrypt (python3's crypt). */
async function startPrivateRegistry(dir: string): Promise<RegistryServer> {
  const { stdout: hash } = await exec("python3", [
    "-W",
    "ignore",
    "-c",
    `import crypt; print(crypt.crypt(${JSON.stringify(password)}, crypt.mksalt(crypt.METHOD_BLOWFISH)))`,
  ]);
  const htpasswdFile = join(dir, "htpasswd");
  await writeFile(htpasswdFile, `${user}:${hash.trim()}\n`);
  return startRegistry({
    stateDir: join(dir, "private"),
    port: await freePort(),
    htpasswdFile,
    portHint: "(test)",
  });
}

test("pull and push secrets reach a registry that wants credentials, and never reach a log or the API", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  privateRegistry = await startPrivateRegistry(infra.workDir);
  const priv = privateRegistry.address;
  // The base image only exists behind the credentials.
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--src-authfile",
    baseImage.authFile,
    "--dest-creds",
    `${user}:${password}`,
    `docker://${baseImage.ref}`,
    `docker://${priv}/base/busybox:latest`,
  ]);
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    buildahStorageDir: join(infra.workDir, `buildah-${subjectPrefix}`),
    extraEnv: { KILN_INSECURE_REGISTRIES: `${infra.registry.address},${priv}` },
  });
  const call = api(running);
  const auth = Buffer.from(`${user}:${password}`).toString("base64");
  const dockerConfig = JSON.stringify({ auths: { [priv]: { auth } } });
  const bc = (name: string, secrets: boolean) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { dockerfile: `FROM ${priv}/base/busybox:latest\nRUN echo private > /p.txt\n` },
      strategy: {
        type: "Docker",
        dockerStrategy: secrets ? { pullSecret: { name: "regcred" } } : {},
      },
      output: {
        to: { kind: "DockerImage", name: `${priv}/apps/${name}:v1` },
        ...(secrets ? { pushSecret: { name: "regcred" } } : {}),
      },
    },
  });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      // Kubernetes' own Secret, as `kubectl create secret docker-registry --dry-run=client -o yaml` writes it.
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "regcred" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(dockerConfig).toString("base64") },
      },
      bc("with-creds", true),
      bc("without-creds", false),
    ],
  });
  expect(applied.status).toBe(200);

  await call("POST", "/apis/v1/namespaces/default/buildconfigs/with-creds/instantiate", {});
  const build = await waitForBuild(call, "with-creds-1", finished);
  expect(build.status.phase).toBe("Complete");
  const manifest = await fetch(`${privateRegistry.url}/v2/apps/with-creds/manifests/v1`, {
    method: "HEAD",
    headers: {
      authorization: `Basic ${auth}`,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  expect(manifest.headers.get("docker-content-digest")).toBe(build.status.output.digest);

  await call("POST", "/apis/v1/namespaces/default/buildconfigs/without-creds/instantiate", {});
  const refused = await waitForBuild(call, "without-creds-1", finished);
  expect(refused.status.phase).toBe("Failed");
  // The base image is already in the runner's image cache (pulled with credentials by the first
  // build, as a Kubernetes node caches with IfNotPresent); the push is what the registry refuses.
  expect(refused.status.reason).toBe("PushFailed");

  // The API never gives the credentials back.
  const secret = await call("GET", "/apis/v1/namespaces/default/secrets/regcred");
  expect(secret.json).toMatchObject({
    kind: "Secret",
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": "(redacted)" },
    registries: [priv],
  });
  expect(secret.text).not.toContain(auth);
  const { stdout: table } = await exec(
    process.execPath,
    [join(repoRoot, "packages/cli/bin/kiln.mjs"), "get", "secrets"],
    { env: { ...process.env, ...running.cliEnv } },
  );
  expect(table).toMatch(
    new RegExp(`regcred\\s+kubernetes.io/dockerconfigjson\\s+${priv.replace(/\./g, "\\.")}`),
  );
  // Nor does any log: the services' logs and the builds' logs.
  const logs = await Promise.all(
    (await readdir(running.logsDir)).map((f) => readFile(join(running!.logsDir, f), "utf8")),
  );
  const buildLogs = await Promise.all(
    ["with-creds-1", "without-creds-1"].map(
      async (b) => (await call("GET", `/apis/v1/namespaces/default/builds/${b}/log`)).text,
    ),
  );
  for (const text of [...logs, ...buildLogs]) {
    expect(text).not.toContain(password);
    expect(text).not.toContain(auth);
  }
});

test("an S2I build pushes as it commits with the push secret, records the digest the private registry holds, and fails PushFailed without it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  privateRegistry = await startPrivateRegistry(infra.workDir);
  const priv = privateRegistry.address;
  const builder = await messageAppBuilder(
    baseImage,
    `${infra.registry.address}/s2i/builder-creds:latest`,
  );
  await using repo = await makeGitRepo({ "message.txt": "private" });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { KILN_INSECURE_REGISTRIES: `${infra.registry.address},${priv}` },
  });
  const call = api(running);
  const auth = Buffer.from(`${user}:${password}`).toString("base64");
  const bc = (name: string, secrets: boolean) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: repo.url, ref: "main" } },
      strategy: {
        type: "Source",
        sourceStrategy: { from: { kind: "DockerImage", name: builder.ref } },
      },
      output: {
        to: { kind: "DockerImage", name: `${priv}/apps/${name}:v1` },
        ...(secrets ? { pushSecret: { name: "regcred" } } : {}),
      },
    },
  });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "regcred" },
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": JSON.stringify({ auths: { [priv]: { auth } } }) },
      },
      bc("s2i-with-creds", true),
      bc("s2i-without-creds", false),
    ],
  });
  expect(applied.status).toBe(200);

  await call("POST", "/apis/v1/namespaces/default/buildconfigs/s2i-with-creds/instantiate", {});
  const build = await waitForBuild(call, "s2i-with-creds-1", finished);
  expect(build.status.phase).toBe("Complete");
  const manifest = await fetch(`${privateRegistry.url}/v2/apps/s2i-with-creds/manifests/v1`, {
    headers: {
      authorization: `Basic ${auth}`,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  expect(manifest.headers.get("docker-content-digest")).toBe(build.status.output.digest);
  const layers = (await manifest.json()) as {
    config: { size: number };
    layers: { size: number }[];
  };
  expect(build.status.output.size).toBe(
    layers.config.size + layers.layers.reduce((sum, l) => sum + l.size, 0),
  );

  await call("POST", "/apis/v1/namespaces/default/buildconfigs/s2i-without-creds/instantiate", {});
  const refused = await waitForBuild(call, "s2i-without-creds-1", finished);
  expect(refused.status).toMatchObject({ phase: "Failed", reason: "PushFailed" });
  expect(refused.status.message).toMatch(
    new RegExp(`^pushing ${priv}/apps/s2i-without-creds:v1 failed \\(exit \\d+\\)$`),
  );
  const buildLog = (await call("GET", "/apis/v1/namespaces/default/builds/s2i-with-creds-1/log"))
    .text;
  expect(buildLog).not.toContain(password);
  expect(buildLog).not.toContain(auth);
});

test("a build naming a Secret that does not exist fails with MissingSecret, naming it", async ({
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
        metadata: { name: "app" },
        spec: {
          source: { dockerfile: `FROM ${baseImage.ref}\n` },
          strategy: { type: "Docker" },
          output: {
            to: { kind: "ImageStreamTag", name: "app:latest" },
            pushSecret: { name: "nope" },
          },
        },
      },
    ],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  const build = await waitForBuild(call, "app-1", finished);
  expect(build.status).toMatchObject({
    phase: "Failed",
    reason: "MissingSecret",
    message: "the push secret default/nope does not exist",
  });
});

test("a Secret that is not a docker config is refused with the field named, and nothing is stored", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix, services: ["api"] });
  const call = api(running);
  const res = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "bad" },
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": "{}" },
      },
    ],
  });
  expect(res.status).toBe(400);
  expect(res.json.details).toEqual([
    { path: "items[0].stringData..dockerconfigjson", message: 'must have an "auths" object' },
  ]);
  expect((await call("GET", "/apis/v1/namespaces/default/secrets")).json.items).toEqual([]);
});
