import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { imageReferenceByDigest, type BuildOutputStatus } from "@kiln/domain";
import { runCommand } from "@kiln/runtime";
import {
  basicCredentialsFor,
  parseImageName,
  type DockerConfig,
  type RegistryRepository,
} from "@kiln/registry";
import type { BuildContext } from "./build-context.js";

/**
 * The pushed image's size in the registry (config + compressed layers, as `docker manifest
 * inspect` would sum them), read over HTTP, else with skopeo (which knows every auth scheme and
 * the host's certs.d, but costs a process). Informative only: when it cannot be read, the build
 * still completes and the log says why.
 */
export async function pushedImageSize(
  ctx: BuildContext,
  imageReference: string,
): Promise<number | undefined> {
  const raw = await readManifest(ctx, imageReference);
  const size = raw && manifestSize(raw);
  if (size === undefined)
    ctx.sink.line("warning: could not read the pushed manifest to record the image size");
  return size ?? undefined;
}

/** What the output tag holds after a commit straight to it. */
export type ReadBack =
  | { holds: "this-build"; output: BuildOutputStatus }
  /** Another push moved the tag in between: this build's digest cannot be known from it any more. */
  | { holds: "another-image" }
  /** Neither HTTP nor skopeo could read the tag's manifest and config. */
  | { holds: "unknown" };

/**
 * After buildah committed straight to the output tag: what the tag points at, and whether it
 * is this build's image, recognised by the labels every Kiln build writes
 * (`io.openshift.build.namespace` and `kiln.dev/build`).
 */
export async function readBackPushedImage(ctx: BuildContext, image: string): Promise<ReadBack> {
  const raw = await readManifest(ctx, image);
  const configDigest = raw && parseManifest(raw.bytes)?.config?.digest;
  const labels = configDigest ? await readConfigLabels(ctx, image, configDigest) : null;
  if (!raw || !labels) return { holds: "unknown" };
  if (
    labels["kiln.dev/build"] !== ctx.job.name ||
    labels["io.openshift.build.namespace"] !== ctx.job.namespace
  )
    return { holds: "another-image" };
  const size = manifestSize(raw);
  return {
    holds: "this-build",
    output: {
      image,
      digest: raw.digest,
      imageReference: imageReferenceByDigest(image, raw.digest),
      ...(size === undefined ? {} : { size }),
    },
  };
}

interface RawManifest {
  digest: string;
  bytes: Buffer;
}
interface ManifestDocument {
  config?: { digest?: string; size?: number };
  layers?: { size?: number }[];
}

/** The manifest a reference (by tag or digest) points at, with the push credentials; null when neither HTTP nor skopeo can read it. */
async function readManifest(ctx: BuildContext, reference: string): Promise<RawManifest | null> {
  const target = await repositoryOf(ctx, reference);
  if (target) {
    const fetched = await ctx.registry
      .manifest(target.repo, target.reference, ctx.signal)
      .catch(() => null);
    if (fetched) return fetched;
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const bytes = await skopeo(ctx, ["inspect", "--raw"], reference);
  return bytes && { digest: sha256(bytes), bytes };
}

async function readConfigLabels(
  ctx: BuildContext,
  image: string,
  configDigest: string,
): Promise<Record<string, string> | null> {
  const target = await repositoryOf(ctx, image);
  const bytes =
    (target &&
      (await ctx.registry.blob(target.repo, configDigest, ctx.signal).catch(() => null))) ??
    (await skopeo(ctx, ["inspect", "--config", "--raw"], image));
  if (!bytes) return null;
  try {
    return (
      (
        JSON.parse(bytes.toString("utf8")) as {
          config?: { Labels?: Record<string, string> | null };
        }
      ).config?.Labels ?? null
    );
  } catch {
    return null;
  }
}

/** The registry repository of an image reference, reached as buildah reaches it (insecure registries over plain HTTP), with the push credentials. */
async function repositoryOf(
  ctx: BuildContext,
  reference: string,
): Promise<{ repo: RegistryRepository; reference: string } | null> {
  const name = parseImageName(reference);
  const ref = name?.digest ?? name?.tag;
  if (!name || !ref) return null;
  const host = name.registry === "docker.io" ? "registry-1.docker.io" : name.registry;
  const config = ctx.pushAuthFile
    ? (JSON.parse(await readFile(ctx.pushAuthFile, "utf8")) as DockerConfig)
    : undefined;
  const basicAuth = config && basicCredentialsFor(config, name.registry);
  return {
    repo: {
      host,
      repository: name.repository,
      insecure: ctx.buildah.isInsecure(name.registry),
      basicAuth,
    },
    reference: ref,
  };
}

/** `skopeo <args> docker://<reference>` with the push credentials: its stdout, or null when it failed. */
async function skopeo(
  ctx: BuildContext,
  args: string[],
  reference: string,
): Promise<Buffer | null> {
  const result = await runCommand({
    command: "skopeo",
    // The same registries.conf as buildah, so insecure registries stay per-registry (skopeo 1.9
    // ignores CONTAINERS_REGISTRIES_CONF; its hidden --registries-conf flag works).
    args: [
      "--registries-conf",
      ctx.buildah.registriesConf,
      ...args,
      ...(ctx.pushAuthFile ? ["--authfile", ctx.pushAuthFile] : []),
      `docker://${reference}`,
    ],
    env: ctx.buildah.env(),
    stdout: "capture",
    signal: ctx.signal,
  }).catch(() => null);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return result?.exitCode === 0 ? Buffer.from(result.stdout, "utf8") : null;
}

function parseManifest(bytes: Buffer): ManifestDocument | null {
  try {
    return JSON.parse(bytes.toString("utf8")) as ManifestDocument;
  } catch {
    return null;
  }
}

function manifestSize(raw: RawManifest): number | undefined {
  const manifest = parseManifest(raw.bytes);
  if (!manifest?.config) return undefined;
  return (
    (manifest.config.size ?? 0) + (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0)
  );
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
