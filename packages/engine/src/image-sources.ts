import { cp, mkdir, realpath } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { BuildFailure, FailureReason } from "@kiln/domain";
import { authArgs } from "./auth-files.js";
import { buildahOutput, buildahStep, type BuildContext } from "./build-context.js";

/**
 * OpenShift's image sources (`spec.source.images`): copy paths out of other images into the
 * build context before the build. This is how a chained runtime build takes the binary out of
 * an S2I image. Each image is opened as a buildah container and mounted read-only in effect
 * (we only read); the container is removed whatever happens.
 */
export async function copyImageSources(ctx: BuildContext, contextDir: string): Promise<void> {
  const images = ctx.job.spec.source.images ?? [];
  if (images.length === 0) return;
  ctx.sink.step("PullImages");
  for (const [i, source] of images.entries()) {
    const image = source.from.name;
    const name = `kiln-${ctx.job.id}-image-source-${i}`;
    await buildahStep(ctx, ["from", ...authArgs(ctx.pullAuthFile), "--name", name, "--pull", image], FailureReason.PullImageFailed, `pulling image source ${image} failed`);
    try {
      const mountPoint = await realpath((await buildahOutput(ctx, ["mount", name], FailureReason.PullImageFailed, `mounting ${image} failed`)).trim());
      for (const path of source.paths) {
        const from = insideOf(mountPoint, path.sourcePath, `spec.source.images[${i}].paths: sourcePath ${path.sourcePath}`);
        const to = insideOf(contextDir, path.destinationDir || ".", `spec.source.images[${i}].paths: destinationDir ${path.destinationDir}`);
        await mkdir(to, { recursive: true });
        // `dir/.` copies the directory's contents, as OpenShift documents; otherwise the path itself.
        const target = path.sourcePath.endsWith("/.") ? to : join(to, from.split(sep).pop() ?? "");
        try {
          await cp(from, target, { recursive: true, verbatimSymlinks: true, errorOnExist: false, force: true });
        } catch (error) {
          throw new BuildFailure(FailureReason.PullImageFailed, `${path.sourcePath} not found in image source ${image}`, { cause: error });
        }
        ctx.sink.line(`Copied ${path.sourcePath} from ${image} to ${path.destinationDir || "."}`);
      }
    } finally {
      await buildahOutput(ctx, ["umount", name], FailureReason.InternalError, "").catch(() => undefined);
      await buildahOutput(ctx, ["rm", name], FailureReason.InternalError, "").catch(() => undefined);
    }
  }
}

/** `root` + `path`, refusing anything that climbs out of `root` (`..`, absolute tricks). */
function insideOf(root: string, path: string, what: string): string {
  const full = resolve(root, `.${sep}${path}`);
  const rel = relative(root, full);
  if (rel.startsWith("..") || rel.split(sep).includes("..")) {
    throw new BuildFailure(FailureReason.InvalidSource, `${what} points outside`);
  }
  return full;
}
