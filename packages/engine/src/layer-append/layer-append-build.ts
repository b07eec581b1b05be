import { createHash } from "node:crypto";
import { access } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  FailureReason,
  hasPostCommitHook,
  imageReferenceByDigest,
  type BuildOutputStatus,
} from "@kiln/domain";
import type { BuildContext } from "../build-context.js";
import { outputLabels } from "../labels.js";
import { writeLayer } from "./layer-tar.js";
import { BuildPath, planDockerBuild, type PathChoice } from "./plan.js";
import {
  baseTree,
  MediaType,
  pushImage,
  readBaseImage,
  repositoryFor,
  type ConfigDocument,
  type ImageManifest,
} from "./registry-image.js";
import { resolveInstructions } from "./resolve.js";

export interface DockerInput {
  dockerfile: string;
  contextDir: string;
}

/**
 * A Docker build by layer-append when its Dockerfile allows (`planDockerBuild`): returns the
 * pushed image, or null when buildah must build it. Either way the log says which path and
 * why, in one line. Whatever goes wrong before the first blob is pushed sends the build to
 * buildah; after that, the push failed.
 */
export async function layerAppendBuild(
  ctx: BuildContext,
  input: DockerInput,
  enabled: boolean,
): Promise<BuildOutputStatus | null> {
  const choice = enabled ? await choose(ctx, input) : buildah("BUILD_RUNNER_LAYER_APPEND is off");
  if (choice.path === BuildPath.Buildah) {
    ctx.sink.line(`Build path: buildah (${choice.reason})`);
    return null;
  }
  ctx.sink.step("Build");
  let pushing = false;
  try {
    const output = await assembleAndPush(ctx, input, choice, () => (pushing = true));
    return output;
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const message = error instanceof Error ? error.message : String(error);
    if (pushing)
      throw new BuildFailure(FailureReason.PushFailed, `pushing the image failed: ${message}`, {
        cause: error,
      });
    ctx.sink.line(`Build path: buildah (layer-append could not make this image: ${message})`);
    return null;
  }
}

const buildah = (reason: string): PathChoice => ({ path: BuildPath.Buildah, reason });

async function choose(ctx: BuildContext, input: DockerInput): Promise<PathChoice> {
  const { spec } = ctx.job;
  if (!spec.output.image) return buildah("no output image to push");
  const exists = (name: string) =>
    access(join(input.contextDir, name)).then(
      () => true,
      () => false,
    );
  return planDockerBuild({
    dockerfile: input.dockerfile,
    target: spec.strategy.dockerStrategy?.target,
    // A post-commit hook runs in a container of the image: buildah's path has one.
    postCommit: hasPostCommitHook(spec),
    ignoreFile: (await exists(".dockerignore")) || (await exists(".containerignore")),
  });
}

async function assembleAndPush(
  ctx: BuildContext,
  input: DockerInput,
  plan: Extract<PathChoice, { path: "layer-append" }>,
  startedPushing: () => void,
): Promise<BuildOutputStatus> {
  const { job, signal } = ctx;
  const started = Date.now();
  const image = job.spec.output.image!;
  const insecure = (registry: string) => ctx.buildah.isInsecure(registry);
  const from = await repositoryFor(plan.base, ctx.pullAuthFile, insecure);
  const target = await repositoryFor(image, ctx.pushAuthFile, insecure);
  ctx.usedImages.add(plan.base);
  const base = await readBaseImage(ctx.registry, from.repo, from.reference, signal);
  const baseConfig = base.config.config ?? {};
  if (baseConfig.OnBuild?.length) throw new Error("the base has ONBUILD triggers");
  const docker = job.spec.strategy.dockerStrategy ?? {};
  const resolved = resolveInstructions({
    instructions: plan.instructions,
    baseConfig,
    buildArgs: docker.buildArgs ?? [],
    env: [...(docker.env ?? []), ...job.spec.env],
    labels: outputLabels(job, ctx.revision),
  });
  const created = fixedTime(ctx);
  const layer = await writeLayer({
    contextDir: input.contextDir,
    copies: resolved.copies,
    workdirs: resolved.workdirs,
    base: await baseTree(ctx.registry, base, signal),
    mtime: new Date(created),
  });
  const history = resolved.history.map((line, i) => {
    const createdBy =
      "createdBy" in line
        ? line.createdBy
        : `/bin/sh -c #(nop) ${resolved.copies[line.copy]!.keyword} ${layer.copySummaries[line.copy]} in ${resolved.copies[line.copy]!.writtenDestination} `;
    // As buildah: the instructions leave no layer of their own; the last one carries the build's.
    return i === resolved.history.length - 1
      ? { created, created_by: createdBy, comment: `FROM ${plan.base}` }
      : { created, created_by: createdBy, empty_layer: true };
  });
  const config: ConfigDocument = {
    ...base.config,
    created,
    config: resolved.config,
    rootfs: { type: "layers", diff_ids: [...base.config.rootfs.diff_ids, layer.diffId] },
    history: [...(base.config.history ?? []), ...history],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = `sha256:${createHash("sha256").update(configBytes).digest("hex")}`;
  const oci = base.mediaType === MediaType.OciManifest;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: base.mediaType,
    config: {
      mediaType: oci ? MediaType.OciConfig : MediaType.DockerConfig,
      digest: configDigest,
      size: configBytes.length,
    },
    layers: [
      ...base.manifest.layers,
      {
        mediaType: oci ? MediaType.OciLayerGzip : MediaType.DockerLayerGzip,
        digest: layer.digest,
        size: layer.gzipped.length,
      },
    ],
    ...(oci
      ? {
          annotations: {
            "org.opencontainers.image.base.digest": base.digest,
            "org.opencontainers.image.base.name": plan.base,
          },
        }
      : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  ctx.sink.line(
    `Build path: layer-append (FROM ${plan.base} and ${resolved.copies.length} COPY/ADD of the context: no container; layer ${layer.digest.slice(7, 19)}, ${layer.gzipped.length} bytes, written in ${Date.now() - started} ms)`,
  );
  ctx.sink.step("Push");
  startedPushing();
  const digest = await pushImage({
    registry: ctx.registry,
    target: target.repo,
    tag: target.reference,
    base,
    layer: { digest: layer.digest, bytes: layer.gzipped },
    config: configBytes,
    configDigest,
    manifest: manifestBytes,
    manifestMediaType: base.mediaType,
    signal,
  });
  const imageReference = imageReferenceByDigest(image, digest);
  ctx.sink.line(`Pushed ${imageReference}`);
  const size = configBytes.length + manifest.layers.reduce((sum, l) => sum + l.size, 0);
  return { image, digest, imageReference, size };
}

/** The commit's date, or the upload's time: what every mtime and `created` of the image says. */
function fixedTime(ctx: BuildContext): string {
  const when = ctx.revision?.date ?? ctx.job.spec.binaryInput?.uploadedAt;
  const parsed = when ? new Date(when) : new Date(0);
  return (Number.isNaN(parsed.getTime()) ? new Date(0) : parsed).toISOString();
}
