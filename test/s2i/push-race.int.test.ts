import { execFile } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { messageAppBuilder } from "../support/images.js";

const exec = promisify(execFile);
const acceptManifests =
  "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

let running: RunningKiln | undefined;
let proxy: Server | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  proxy?.close();
  proxy = undefined;
});

/**
 * A pass-through in front of the real registry that plays a second pusher winning a race: the
 * first time a manifest is PUT to `raceTag`, it moves that tag to another image (with a
 * plain PUT to the registry) before buildah hears that its own PUT succeeded. What took
 * milliseconds of bad luck in production happens every time here.
 */
async function startRacingProxy(
  registryUrl: string,
  raceTag: string,
  moveTag: () => Promise<void>,
): Promise<string> {
  const upstream = new URL(registryUrl);
  let raced = false;
  proxy = createServer((req, res) => {
    // The Host header is passed on, so the registry's upload Locations point back here.
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        const race =
          !raced &&
          req.method === "PUT" &&
          req.url?.endsWith(`/manifests/${raceTag}`) &&
          answer.statusCode === 201;
        if (race) raced = true;
        void (race ? moveTag() : Promise.resolve()).then(() => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
      },
    );
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => proxy!.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

test("when another push moves the output tag as an S2I build pushes, the build pushes again and records its own digest", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const registry = infra.registry;
  const builder = await messageAppBuilder(baseImage, `${registry.address}/s2i/builder-race:latest`);
  // The other pusher's image: the base image, already in the same repository under another tag.
  await exec("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--authfile",
    registry.authFile,
    `docker://${baseImage.ref}`,
    `docker://${registry.address}/apps/raced:other`,
  ]);
  const manifestUrl = (reference: string) => `${registry.url}/v2/apps/raced/manifests/${reference}`;
  const authorization = registry.authorization;
  const other = await fetch(manifestUrl("other"), {
    headers: { authorization, accept: acceptManifests },
  });
  const otherDigest = other.headers.get("docker-content-digest");
  const otherManifest = {
    type: other.headers.get("content-type")!,
    body: Buffer.from(await other.arrayBuffer()),
  };
  const proxied = await startRacingProxy(registry.url, "latest", async () => {
    const moved = await fetch(manifestUrl("latest"), {
      method: "PUT",
      headers: { authorization, "content-type": otherManifest.type },
      body: otherManifest.body,
    });
    expect(moved.status).toBe(201);
  });

  await using repo = await makeGitRepo({ "message.txt": "raced" });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { KILN_INSECURE_REGISTRIES: `${registry.address},${proxied}` },
  });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      // The proxy is another address of Kiln's registry: the runner's own account is only
      // offered to KILN_REGISTRY, so the build pushes there with it as a Secret.
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "raced-push" },
        type: "kubernetes.io/dockerconfigjson",
        stringData: {
          ".dockerconfigjson": JSON.stringify({
            auths: { [proxied]: { auth: authorization.replace(/^Basic /, "") } },
          }),
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "raced" },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: {
            type: "Source",
            sourceStrategy: { from: { kind: "DockerImage", name: builder.ref } },
          },
          output: {
            to: { kind: "DockerImage", name: `${proxied}/apps/raced:latest` },
            pushSecret: { name: "raced-push" },
          },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/raced/instantiate", {});
  const build = await waitForBuild(call, "raced-1", finished);
  const log = (await call("GET", "/apis/v1/namespaces/default/builds/raced-1/log")).text;
  expect(build.status.phase, log).toBe("Complete");
  expect(log).toContain(
    `warning: ${proxied}/apps/raced:latest no longer holds this build's image (another push moved it); building again to push by digest`,
  );

  // What the build recorded is its own image, which the tag holds after the second push.
  const digest = build.status.output.digest;
  expect(digest).not.toBe(otherDigest);
  const tagged = await fetch(manifestUrl("latest"), {
    headers: { authorization, accept: acceptManifests },
  });
  expect(tagged.headers.get("docker-content-digest")).toBe(digest);
  const manifest = (await tagged.json()) as { config: { digest: string } };
  const config = (await (
    await fetch(`${registry.url}/v2/apps/raced/blobs/${manifest.config.digest}`, {
      headers: { authorization },
    })
  ).json()) as { config: { Labels: Record<string, string> } };
  expect(config.config.Labels).toMatchObject({
    "kiln.dev/build": "raced-1",
    "io.openshift.build.namespace": "default",
  });
});
