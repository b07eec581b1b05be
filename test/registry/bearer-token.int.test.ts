import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, startRegistry, type RegistryServer } from "@kiln/infra";
import { ManifestResolver } from "@kiln/image-watcher";
import { RegistryClient, RegistryError, RegistryFailure } from "@kiln/registry";
import { integrationTest as test, makeGitRepo, type WorkerInfra } from "@kiln/testing";
import { afterEach, expect } from "vitest";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { messageAppBuilder } from "../support/images.js";
import { TokenServer } from "../support/token-server.js";

/*
 * The registry here is the real CNCF distribution in token-auth mode, as Docker Hub, Quay,
 * GHCR and Harbor run: every request without a token gets 401 and a
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge, and only JWTs signed by the
 * token server's certificate are accepted. The token server (test/support/token-server.ts)
 * plays auth.docker.io: anyone may pull `public/*`; `kiln-ci` may pull and push everything.
 */

const exec = promisify(execFile);
const user = "kiln-ci";
const password = "tok-5b1d7c2e-not-for-logs";
const service = "registry.kiln.test";
const issuer = "kiln-test-token-issuer";
const basicAuth = Buffer.from(`${user}:${password}`).toString("base64");

let running: RunningKiln | undefined;
let registry: RegistryServer | undefined;
let tokens: TokenServer | undefined;
afterEach(async () => {
  await running?.stop();
  await registry?.stop();
  await tokens?.stop();
  running = undefined;
  registry = undefined;
  tokens = undefined;
});

async function startTokenAuthRegistry(
  workDir: string,
): Promise<{ registry: RegistryServer; tokens: TokenServer }> {
  const dir = await mkdtemp(join(workDir, "token-auth-"));
  tokens = await TokenServer.start({
    dir,
    service,
    issuer,
    users: { [user]: password },
    allow: (account, repository) =>
      account === user ? ["pull", "push"] : repository.startsWith("public/") ? ["pull"] : [],
  });
  registry = await startRegistry({
    stateDir: join(dir, "state"),
    port: await freePort(),
    portHint: "(test)",
    tokenAuth: { realm: tokens.realm, service, issuer, rootCertBundle: tokens.rootCertBundle },
  });
  return { registry, tokens };
}

/** Copies an image of the worker registry into the token-auth registry as kiln-ci (skopeo buys its own push token); the digest skopeo wrote. */
async function pushWithSkopeo(infra: WorkerInfra, from: string, to: string): Promise<string> {
  const digestFile = join(await mkdtemp(join(infra.workDir, "digest-")), "digest");
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--src-authfile",
    infra.registry.authFile,
    "--dest-creds",
    `${user}:${password}`,
    "--digestfile",
    digestFile,
    `docker://${from}`,
    `docker://${to}`,
  ]);
  return (await readFile(digestFile, "utf8")).trim();
}

/** What skopeo (as kiln-ci) reads from the token-auth registry: `inspect --raw`, or `--config --raw`. */
async function skopeoRaw(ref: string, config = false): Promise<Buffer> {
  const { stdout } = await exec(
    "skopeo",
    [
      "inspect",
      ...(config ? ["--config"] : []),
      "--raw",
      "--tls-verify=false",
      "--creds",
      `${user}:${password}`,
      `docker://${ref}`,
    ],
    { encoding: "buffer" },
  );
  return stdout;
}

/** The User-Agent of buildah and skopeo (containers/image); Kiln's own client is Node's fetch. */
const containersTool = /^(Buildah|skopeo|containers)\//;

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function rejection(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => {
      throw new Error("expected the registry to refuse");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

test("a public repository behind a token server resolves anonymously to the digest the registry holds", async ({
  infra,
  baseImage,
}) => {
  const { registry, tokens } = await startTokenAuthRegistry(infra.workDir);
  const pushed = await pushWithSkopeo(
    infra,
    baseImage.ref,
    `${registry.address}/public/busybox:latest`,
  );
  expect(pushed).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(sha256(await skopeoRaw(`${registry.address}/public/busybox:latest`))).toBe(pushed);

  // The registry really wants a token: no anonymous access, and basic auth is not enough.
  const bare = await fetch(`${registry.url}/v2/public/busybox/manifests/latest`, {
    method: "HEAD",
  });
  expect(bare.status).toBe(401);
  expect(bare.headers.get("www-authenticate")).toBe(
    `Bearer realm="${tokens.realm}",service="${service}",scope="repository:public/busybox:pull"`,
  );
  const basic = await fetch(`${registry.url}/v2/public/busybox/manifests/latest`, {
    method: "HEAD",
    headers: { authorization: `Basic ${basicAuth}` },
  });
  expect(basic.status).toBe(401);

  const client = new RegistryClient();
  const publicBusybox = { host: registry.address, repository: "public/busybox", insecure: true };
  expect(await client.manifestDigest(publicBusybox, "latest")).toBe(pushed);
  const manifest = await client.manifest(publicBusybox, "latest");
  expect(manifest.digest).toBe(pushed);
  expect(manifest.bytes.equals(await skopeoRaw(`${registry.address}/public/busybox:latest`))).toBe(
    true,
  );
  // Bought anonymously, for exactly that repository, and only pull; once, then reused.
  const anonymous = tokens.requests.filter((r) => r.account === "anonymous");
  expect(anonymous).toHaveLength(1);
  for (const r of anonymous)
    expect(r).toMatchObject({
      status: 200,
      scopes: ["repository:public/busybox:pull"],
      granted: [{ type: "repository", name: "public/busybox", actions: ["pull"] }],
    });

  // The image-watcher resolves the tag the same way (an ImageStream importing from such a registry).
  const resolver = new ManifestResolver();
  expect(
    await resolver.resolve(
      { registry: registry.address, repository: "public/busybox", tag: "latest" },
      { insecure: true },
    ),
  ).toBe(pushed);

  // A tag that does not exist is NotFound after the token dance, not Unauthorized.
  expect((await rejection(client.manifestDigest(publicBusybox, "v9.9"))).reason).toBe(
    RegistryFailure.NotFound,
  );
});

test("a private repository behind a token server reads with kiln-ci's credentials and refuses anonymous and wrong ones", async ({
  infra,
  baseImage,
}) => {
  const { registry, tokens } = await startTokenAuthRegistry(infra.workDir);
  const ref = `${registry.address}/apps/storefront:v1`;
  const pushed = await pushWithSkopeo(infra, baseImage.ref, ref);
  const client = new RegistryClient();
  const storefront = { host: registry.address, repository: "apps/storefront", insecure: true };

  const manifest = await client.manifest({ ...storefront, basicAuth }, "v1");
  expect(manifest.digest).toBe(pushed);
  expect(manifest.bytes.equals(await skopeoRaw(ref))).toBe(true);
  expect(await client.manifestDigest({ ...storefront, basicAuth }, "v1")).toBe(pushed);
  // The image config, by its digest: the same bytes skopeo reads (entrypoint, labels, history).
  const configDigest = (
    JSON.parse(manifest.bytes.toString("utf8")) as { config: { digest: string } }
  ).config.digest;
  const config = await client.blob({ ...storefront, basicAuth }, configDigest);
  expect(sha256(config)).toBe(configDigest);
  expect(config.equals(await skopeoRaw(ref, true))).toBe(true);
  // One token bought with kiln-ci's credentials, for pulling that repository only, and reused by the three requests.
  const mine = tokens.requests.filter((r) => !containersTool.test(r.userAgent));
  expect(mine).toEqual([
    expect.objectContaining({
      account: user,
      status: 200,
      scopes: ["repository:apps/storefront:pull"],
    }),
  ]);

  // Anonymous: the token server hands out a token with no access (as Docker Hub does), the registry refuses it.
  const anonymous = await rejection(client.manifest(storefront, "v1"));
  expect(anonymous).toMatchObject({
    reason: RegistryFailure.Unauthorized,
    repository: `${registry.address}/apps/storefront`,
  });
  expect(anonymous.detail).toBe("the registry refused anonymous access (401)");
  expect((await rejection(client.blob(storefront, configDigest))).reason).toBe(
    RegistryFailure.Unauthorized,
  );
  expect((await rejection(client.manifestDigest(storefront, "v1"))).reason).toBe(
    RegistryFailure.Unauthorized,
  );

  // A wrong password: the token server refuses it (401), and the error says who refused.
  const wrong = {
    ...storefront,
    basicAuth: Buffer.from(`${user}:not-the-password`).toString("base64"),
  };
  const refused = await rejection(client.manifest(wrong, "v1"));
  expect(refused).toMatchObject({
    reason: RegistryFailure.Unauthorized,
    detail: `the token service ${new URL(tokens.realm).host} refused these credentials (401)`,
  });
  expect((await rejection(client.blob(wrong, configDigest))).reason).toBe(
    RegistryFailure.Unauthorized,
  );
  expect(tokens.requests.some((r) => r.account === user && r.status === 401)).toBe(true);
  // And the image-watcher says so, naming the image.
  await expect(
    new ManifestResolver().resolve(
      { registry: registry.address, repository: "apps/storefront", tag: "v1" },
      { insecure: true },
    ),
  ).rejects.toThrow(
    `${registry.address}/apps/storefront:v1: the registry refused anonymous access (401)`,
  );
});

test("an S2I build pushes to a token-auth registry with the push secret and records the digest the registry holds", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const { registry, tokens } = await startTokenAuthRegistry(infra.workDir);
  const host = registry.address;
  const builder = await messageAppBuilder(
    baseImage,
    `${infra.registry.address}/s2i/builder-bearer:latest`,
  );
  await using repo = await makeGitRepo({ "message.txt": "served behind a token server" });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { KILN_INSECURE_REGISTRIES: `${infra.registry.address},${host}` },
  });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "registry-push" },
        type: "kubernetes.io/dockerconfigjson",
        stringData: {
          ".dockerconfigjson": JSON.stringify({ auths: { [host]: { auth: basicAuth } } }),
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "storefront" },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: {
            type: "Source",
            sourceStrategy: { from: { kind: "DockerImage", name: builder.ref } },
          },
          output: {
            to: { kind: "DockerImage", name: `${host}/apps/storefront:v1` },
            pushSecret: { name: "registry-push" },
          },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);

  await call("POST", "/apis/v1/namespaces/default/buildconfigs/storefront/instantiate", {});
  const build = await waitForBuild(call, "storefront-1", finished);
  const boughtDuringBuild = tokens.requests.filter((r) => r.status === 200);
  expect(build.status.phase).toBe("Complete");
  // What the tag holds, read by skopeo: the digest the build recorded (and Kiln's client agrees).
  const held = sha256(await skopeoRaw(`${host}/apps/storefront:v1`));
  expect(build.status.output.digest).toBe(held);
  expect(build.status.output.imageReference).toBe(`${host}/apps/storefront@${held}`);
  expect(
    await new RegistryClient().manifestDigest(
      { host, repository: "apps/storefront", insecure: true, basicAuth },
      "v1",
    ),
  ).toBe(held);

  // buildah pushed with a pull,push token bought with the secret; the engine then read the image
  // back over HTTP with one pull token bought with the same secret, for the manifest and then the
  // config blob (whose labels tell the build's own image), and never needed its skopeo fallback.
  expect(boughtDuringBuild.filter((r) => r.userAgent.startsWith("Buildah/"))).toContainEqual(
    expect.objectContaining({ account: user, scopes: ["repository:apps/storefront:pull,push"] }),
  );
  const readBack = boughtDuringBuild.filter((r) => !containersTool.test(r.userAgent));
  expect(
    readBack.map((r) => `${r.account} ${r.scopes.join(" ")}`),
    "the engine's HTTP read-back",
  ).toEqual([`${user} repository:apps/storefront:pull`]);
  expect(
    boughtDuringBuild.filter((r) => r.userAgent.startsWith("skopeo/")),
    "the engine's skopeo fallback",
  ).toEqual([]);

  const log = (await call("GET", "/apis/v1/namespaces/default/builds/storefront-1/log")).text;
  expect(log).toContain(`Pushed ${host}/apps/storefront@${held}`);
  expect(log).not.toContain("warning: could not read");
  expect(log).not.toContain(password);
  expect(log).not.toContain(basicAuth);
});
