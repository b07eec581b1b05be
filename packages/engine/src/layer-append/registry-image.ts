import { readFile } from "node:fs/promises";
import {
  basicCredentialsFor,
  parseImageName,
  type DockerConfig,
  type RegistryClient,
  type RegistryRepository,
} from "@kiln/registry";
import { flattenBaseTree, type BaseTree } from "./base-tree.js";
import { FastPathRefused } from "./errors.js";
import type { ContainerConfig } from "./resolve.js";

/** A manifest's descriptor of a blob. */
interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The image config document: `config` is what Dockerfile instructions change. */
export interface ConfigDocument {
  created?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  [other: string]: unknown;
}

export interface BaseImage {
  repo: RegistryRepository;
  /** The platform manifest's digest (`org.opencontainers.image.base.digest`). */
  digest: string;
  manifest: ImageManifest;
  mediaType: string;
  config: ConfigDocument;
}

export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** The registry repository an image name lives in, reached as buildah reaches it, with the auth file's credentials for it. */
export async function repositoryFor(
  image: string,
  authFile: string | null,
  isInsecure: (registry: string) => boolean,
): Promise<{ repo: RegistryRepository; reference: string }> {
  const name = parseImageName(image);
  if (!name) throw new FastPathRefused(`cannot parse the image name ${image}`);
  const config = authFile
    ? (JSON.parse(await readFile(authFile, "utf8")) as DockerConfig)
    : undefined;
  return {
    repo: {
      host: name.registry === "docker.io" ? "registry-1.docker.io" : name.registry,
      repository: name.repository,
      insecure: isInsecure(name.registry),
      basicAuth: config && basicCredentialsFor(config, name.registry),
    },
    reference: name.digest ?? name.tag ?? "latest",
  };
}

/** This host's platform as an image index names it. */
const platform = { os: "linux", architecture: process.arch === "x64" ? "amd64" : process.arch };

/** The base's manifest (this platform's, from an index) and config. */
export async function readBaseImage(
  registry: RegistryClient,
  repo: RegistryRepository,
  reference: string,
  signal: AbortSignal,
): Promise<BaseImage> {
  let fetched = await registry.manifest(repo, reference, signal);
  let document = JSON.parse(fetched.bytes.toString("utf8")) as ImageManifest & {
    manifests?: (Descriptor & { platform?: { os?: string; architecture?: string } })[];
  };
  let mediaType = document.mediaType ?? fetched.mediaType ?? MediaType.OciManifest;
  if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerList) {
    const chosen = document.manifests?.find(
      (m) => m.platform?.os === platform.os && m.platform.architecture === platform.architecture,
    );
    if (!chosen)
      throw new FastPathRefused(`the base has no ${platform.os}/${platform.architecture} image`);
    fetched = await registry.manifest(repo, chosen.digest, signal);
    document = JSON.parse(fetched.bytes.toString("utf8")) as typeof document;
    mediaType = document.mediaType ?? chosen.mediaType;
  }
  if (mediaType !== MediaType.OciManifest && mediaType !== MediaType.DockerManifest)
    throw new FastPathRefused(`the base's manifest is ${mediaType}`);
  const config = JSON.parse(
    (await registry.blob(repo, document.config.digest, signal)).toString("utf8"),
  ) as ConfigDocument;
  return { repo, digest: fetched.digest, manifest: document, mediaType, config };
}

/** Flattened base trees by their layers' digests: a base's layers never change under a digest. */
const trees = new Map<string, BaseTree>();
const maxTrees = 32;

/** The base's file system's names and kinds, read once per set of layers and kept. */
export async function baseTree(
  registry: RegistryClient,
  base: BaseImage,
  signal: AbortSignal,
): Promise<BaseTree> {
  const key = base.manifest.layers.map((l) => l.digest).join(",");
  const cached = trees.get(key);
  if (cached) {
    // Most recently used last: the first key is the one to evict.
    trees.delete(key);
    trees.set(key, cached);
    return cached;
  }
  const layers = await Promise.all(
    base.manifest.layers.map((l) => registry.blob(base.repo, l.digest, signal)),
  );
  const tree = await flattenBaseTree(layers.map((bytes) => oneChunk(bytes)));
  if (trees.size >= maxTrees) trees.delete(trees.keys().next().value!);
  trees.set(key, tree);
  return tree;
}

async function* oneChunk(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Pushes the base's layers (each one the target lacks: mounted from the base's repository on
 * the same registry, else copied), the new layer, the config, then the manifest under the tag;
 * returns the manifest's digest. Blobs the registry already holds are never sent again.
 */
export async function pushImage(options: {
  registry: RegistryClient;
  target: RegistryRepository;
  tag: string;
  base: BaseImage;
  layer: { digest: string; bytes: Buffer };
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestMediaType: string;
  signal: AbortSignal;
}): Promise<string> {
  const { registry, target, base, signal } = options;
  const sameRegistry = base.repo.host === target.host;
  const ours = async (digest: string, bytes: Buffer) => {
    if (!(await registry.hasBlob(target, digest, signal)))
      await registry.uploadBlob(target, digest, bytes, signal);
  };
  // Every blob at once, the manifest after them all (a registry refuses one naming a blob it lacks):
  // the base's HEADs and the config's round trips are not queued behind the new layer's upload.
  await Promise.all([
    ...base.manifest.layers.map(async (layer) => {
      if (await registry.hasBlob(target, layer.digest, signal)) return;
      if (
        sameRegistry &&
        (await registry.mountBlob(target, layer.digest, base.repo.repository, signal))
      )
        return;
      // Another registry, or a mount refused: the bytes go through Kiln.
      const bytes = await registry.blob(base.repo, layer.digest, signal);
      await registry.uploadBlob(target, layer.digest, bytes, signal);
    }),
    ours(options.layer.digest, options.layer.bytes),
    ours(options.configDigest, options.config),
  ]);
  return registry.putManifest(
    target,
    options.tag,
    options.manifest,
    options.manifestMediaType,
    signal,
  );
}
