import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { BuildFailure, FailureReason } from "@kiln/domain";
import { authArgs } from "./auth-files.js";
import { buildahStep, type BuildContext } from "./build-context.js";
import { resolveInside } from "./source-paths.js";

/**
 * OpenShift's image sources (`spec.source.images`): copy paths out of other images into the
 * build context before the build. This is how a chained runtime build takes the binary out of
 * an S2I image. buildah does the copying itself (`COPY --from` into an empty image, exported
 * with `--output type=local`): its copier resolves every path inside the image's root, so a
 * symlink in the image cannot point the copy at this host's files, and nothing runs. The
 * export is then merged into the context, never through a symlink of the source.
 */
export async function copyImageSources(ctx: BuildContext, contextDir: string): Promise<void> {
  // `contextDir` as the BuildConfig gives it, relative to the source.
  const images = ctx.job.spec.source.images ?? [];
  if (images.length === 0) return;
  ctx.sink.step("PullImages");
  for (const [i, source] of images.entries()) {
    const image = source.from.name;
    ctx.usedImages.add(image);
    const dockerfile = join(ctx.workDir, `Dockerfile.image-source-${i}`);
    await writeFile(
      dockerfile,
      imageSourceDockerfile(image, source.paths, `spec.source.images[${i}].paths`),
    );
    const exported = await mkdtemp(join(ctx.workDir, "image-source-"));
    const emptyContext = await mkdtemp(join(ctx.workDir, "image-source-context-"));
    const tag = `${ctx.localTag.replace(/:latest$/, "")}-image-source-${i}:latest`;
    try {
      await buildahStep(
        ctx,
        [
          "bud",
          "--quiet",
          "--force-rm",
          ...ctx.buildah.runArgs(),
          ...authArgs(ctx.pullAuthFile),
          "--layers=false",
          "--file",
          dockerfile,
          "--tag",
          tag,
          "--output",
          `type=local,dest=${exported}`,
          emptyContext,
        ],
        FailureReason.PullImageFailed,
        `copying ${source.paths.map((p) => p.sourcePath).join(", ")} out of image source ${image} failed (not in the image, or the image cannot be pulled)`,
      );
      await cp(exported, await resolveInside(ctx.sourceDir, contextDir, "contextDir"), {
        recursive: true,
        verbatimSymlinks: true,
        force: true,
      });
      for (const path of source.paths)
        ctx.sink.line(`Copied ${path.sourcePath} from ${image} to ${path.destinationDir || "."}`);
    } catch (error) {
      if (error instanceof BuildFailure) throw error;
      // cp refuses to write a directory over a file or a symlink of the source.
      throw new BuildFailure(
        FailureReason.InvalidSource,
        `the paths of image source ${image} collide with the source (${(error as Error).message})`,
        { cause: error },
      );
    } finally {
      // Without the build's signal: a cancelled build must not leave its image behind either.
      await ctx.buildah.run(["rmi", "--force", tag]).catch(() => undefined);
      await Promise.all([
        rm(exported, { recursive: true, force: true }),
        rm(emptyContext, { recursive: true, force: true }),
      ]);
    }
  }
}

/**
 * `FROM image` + `COPY --from` of every path into an empty image, laid out as the context will
 * hold them: `dir/.` copies the directory's contents (OpenShift's rule), any other path lands
 * under its own name in `destinationDir`. Paths are JSON-quoted; `..` in either is refused.
 */
export function imageSourceDockerfile(
  image: string,
  paths: readonly { sourcePath: string; destinationDir?: string }[],
  what: string,
): string {
  const lines = [`FROM ${image} AS source`, "FROM scratch"];
  for (const path of paths) {
    const from = posix.normalize(`/${path.sourcePath}`);
    const dest = posix.normalize(`/${path.destinationDir || "."}`);
    if (path.sourcePath.split("/").includes(".."))
      throw new BuildFailure(
        FailureReason.InvalidSource,
        `${what}: sourcePath ${path.sourcePath} points outside`,
      );
    if ((path.destinationDir ?? "").split("/").includes(".."))
      throw new BuildFailure(
        FailureReason.InvalidSource,
        `${what}: destinationDir ${path.destinationDir} points outside`,
      );
    const contents = path.sourcePath.endsWith("/.") || from === "/";
    const target = contents
      ? `${dest.replace(/\/$/, "")}/`
      : posix.join(dest, posix.basename(from));
    // COPY of a directory copies its contents, so `dir/.` and `dir` differ only in the target.
    lines.push(`COPY --from=source ${JSON.stringify([from, target])}`);
  }
  return `${lines.join("\n")}\n`;
}
