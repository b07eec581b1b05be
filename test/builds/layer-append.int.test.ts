import { createHash } from "node:crypto";
import { afterEach, expect } from "vitest";
import { acceptManifests } from "@kiln/registry";
import { integrationTest as test, tarBytes, type WorkerInfra } from "@kiln/testing";
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

interface Node {
  type: string;
  mode: string;
  owner: string;
  content?: string;
}

/** An image's manifest, config and flattened file system, read from the registry as a client pulls it. */
async function pulled(infra: WorkerInfra, imageReference: string) {
  const [, repository, digest] = /^[^/]+\/(.+)@(sha256:.+)$/.exec(imageReference)!;
  const get = async (path: string, accept = "*/*") => {
    const res = await fetch(`${infra.registry.url}/v2/${repository}/${path}`, {
      headers: { authorization: infra.registry.authorization, accept },
    });
    expect(res.status, path).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };
  const manifest = JSON.parse((await get(`manifests/${digest}`, acceptManifests)).toString());
  const config = JSON.parse((await get(`blobs/${manifest.config.digest}`)).toString());
  // Applied as containers/storage applies layers: a missing parent is made 0755 root.
  const files = new Map<string, Node>();
  for (const layer of manifest.layers) {
    const bytes = await get(`blobs/${layer.digest}`);
    const layerTar = extract();
    layerTar.end(layer.mediaType.endsWith("gzip") ? gunzipSync(bytes) : bytes);
    for await (const item of layerTar) {
      const entry = item.header;
      const path = entry.name.replace(/^\.?\/+/, "").replace(/\/$/, "");
      const name = path.split("/").at(-1)!;
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
      if (name === ".wh..wh..opq") {
        for (const p of files.keys()) if (p.startsWith(`${dir}/`)) files.delete(p);
        continue;
      }
      if (name.startsWith(".wh.")) {
        const gone = dir ? `${dir}/${name.slice(4)}` : name.slice(4);
        for (const p of files.keys()) if (p === gone || p.startsWith(`${gone}/`)) files.delete(p);
        continue;
      }
      for (let p = dir; p; p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "")
        if (!files.has(p)) files.set(p, { type: "directory", mode: "755", owner: "0:0" });
      const chunks: Buffer[] = [];
      for await (const chunk of item) chunks.push(chunk as Buffer);
      files.set(path, {
        type: entry.type ?? "file",
        mode: ((entry.mode ?? 0) & 0o7777).toString(8),
        owner: `${entry.uid}:${entry.gid}`,
        ...(entry.type === "file"
          ? { content: createHash("sha256").update(Buffer.concat(chunks)).digest("hex") }
          : entry.type === "symlink"
            ? { content: `-> ${entry.linkname}` }
            : {}),
      });
    }
  }
  return { manifest, config, files: Object.fromEntries([...files].sort()) };
}

const archive = tarBytes(
  [
    { path: "app/", type: "dir" },
    { path: "app/bin/", type: "dir" },
    { path: "app/bin/tool", content: "#!/bin/sh\necho tool\n", mode: 0o755 },
    { path: "app/lib/", type: "dir", mode: 0o750 },
    { path: "app/lib/x.txt", content: "x\n" },
    { path: "app/link", type: "symlink", linkpath: "bin/tool" },
    { path: "data/", type: "dir" },
    { path: "data/a.txt", content: "a\n", mode: 0o640 },
    { path: "data/sub/", type: "dir" },
    { path: "data/sub/b.txt", content: "b\n" },
    { path: "secret.txt", content: "s3cret\n" },
    { path: "run.sh", content: "#!/bin/sh\n", mode: 0o755 },
  ],
  { gzip: true },
);

const dockerfile = (base: string) => `FROM ${base}
ARG GREETING=hello
ENV APP_HOME=/opt/app PATH=/opt/app/bin:$PATH
COPY app /opt/app/
COPY --chown=1001:0 data /var/data
ADD --chmod=600 secret.txt /etc/app/
COPY run.sh ./
LABEL greeting=$GREETING "two words"="a b"
WORKDIR /opt/app/work
USER 1001
EXPOSE 8080
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo hi"]
`;

test("a FROM + COPY + metadata binary build by layer-append makes the image buildah makes: same files, modes, owners, config and history", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const repository = `la-${subjectPrefix}`.toLowerCase();
  const buildWith = async (layerAppend: boolean) => {
    running = await startKiln({
      infra,
      databaseUrl: database.url,
      subjectPrefix: `${subjectPrefix}${layerAppend ? "f" : "b"}`,
      extraEnv: { BUILD_RUNNER_LAYER_APPEND: String(layerAppend) },
    });
    const call = api(running);
    const name = layerAppend ? "fast" : "slow";
    const applied = await call("POST", "/apis/v1/apply", {
      items: [
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name },
          spec: {
            source: { type: "Binary", dockerfile: dockerfile(baseImage.ref) },
            strategy: {
              type: "Docker",
              dockerStrategy: { env: [{ name: "FROM_STRATEGY", value: "1" }] },
            },
            output: {
              to: {
                kind: "DockerImage",
                name: `${infra.registry.address}/default/${repository}-${name}:latest`,
              },
            },
          },
        },
      ],
    });
    expect(applied.status).toBe(200);
    const started = await fetch(
      `${running.apiUrl}/apis/v1/namespaces/default/buildconfigs/${name}/instantiatebinary`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${running.token}`,
          "content-type": "application/octet-stream",
        },
        body: archive,
      },
    );
    expect(started.status).toBe(201);
    const build = (await started.json()) as { metadata: { name: string } };
    const done = await waitForBuild(call, build.metadata.name, finished);
    const log = (await call("GET", `/apis/v1/namespaces/default/builds/${build.metadata.name}/log`))
      .text;
    expect(done.status.phase, log).toBe("Complete");
    await running.stop();
    running = undefined;
    return { log, image: await pulled(infra, done.status.output.imageReference) };
  };

  const fast = await buildWith(true);
  const slow = await buildWith(false);
  expect(fast.log).toMatch(/^Build path: layer-append \(/m);
  expect(fast.log).not.toMatch(/STEP \d/);
  expect(slow.log).toMatch(/^Build path: buildah \(BUILD_RUNNER_LAYER_APPEND is off\)$/m);

  expect(fast.image.files).toEqual(slow.image.files);
  expect(fast.image.files["var/data"]).toEqual({ type: "directory", mode: "755", owner: "1001:0" });
  expect(fast.image.files["etc/app/secret.txt"]?.mode).toBe("600");

  const c = (image: typeof fast.image) => image.config.config;
  for (const field of ["Env", "Cmd", "Entrypoint", "User", "WorkingDir", "ExposedPorts"])
    expect(c(fast.image)[field], field).toEqual(c(slow.image)[field]);
  // The base (built by buildah) brings io.buildah.version to both; a base without it would get it from buildah only.
  const slowLabels = c(slow.image).Labels;
  // Kiln's own labels name the build, which differs between the two: compare the rest, and that both have them.
  const own = (labels: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(labels).filter(
        ([k]) => !/^(io\.openshift\.build\.name|kiln\.dev\/build|kiln\.dev\/buildconfig)$/.test(k),
      ),
    );
  expect(own(c(fast.image).Labels)).toEqual(own(slowLabels));
  expect(Object.keys(c(fast.image).Labels).sort()).toEqual(Object.keys(slowLabels).sort());

  // History: the same steps; a COPY's content summary is each builder's own hash of what it copied.
  const steps = (image: typeof fast.image) =>
    image.config.history.map(
      (h: { created_by?: string; empty_layer?: boolean; comment?: string }) => ({
        created_by: (h.created_by ?? "")
          .replace(/(file|dir|multi):[0-9a-f]{64}/, "$1:…")
          .replace(
            /"(kiln\.dev\/build|io\.openshift\.build\.name|kiln\.dev\/buildconfig)"="[^"]*"/,
            '"$1"=…',
          ),
        empty_layer: h.empty_layer ?? false,
        comment: h.comment,
      }),
    );
  expect(steps(fast.image)).toEqual(steps(slow.image));
  expect(fast.image.manifest.mediaType).toBe(slow.image.manifest.mediaType);
  expect(fast.image.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(
    slow.image.manifest.annotations?.["org.opencontainers.image.base.digest"],
  );
  expect(fast.image.manifest.layers.slice(0, -1)).toEqual(slow.image.manifest.layers.slice(0, -1));
});
