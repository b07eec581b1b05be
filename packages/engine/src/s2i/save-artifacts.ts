import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { S2IPlan } from "@kiln/domain";
import { authArgs } from "../auth-files.js";
import type { BuildContext } from "../build-context.js";
import { safeExtractTar } from "../archive/safe-extract.js";

/** Saved artifacts bigger than this are not worth an incremental build; build clean instead. */
const maxArtifactBytes = 8 * 1024 ** 3;

export interface SaveArtifactsOptions {
  /** The previous output image (the BuildConfig's output tag; read with the push credentials). */
  previousImage: string;
  plan: S2IPlan;
  /** The source's own `save-artifacts`, when it has one (copied into the container first). */
  uploadedScript: string | null;
  /** Where the artifacts go (the context's `upload/artifacts`). */
  artifactsDir: string;
}

class SkipIncremental extends Error {}

/**
 * The incremental half of S2I: run `save-artifacts` in the previous output image and unpack
 * the tar it writes to stdout into the build context. Returns whether artifacts were saved.
 * Never fails the build: anything going wrong is a warning in the log and a clean build, as an
 * incremental build is only an optimisation. The container is removed whatever happens.
 */
export async function saveArtifacts(
  ctx: BuildContext,
  options: SaveArtifactsOptions,
): Promise<boolean> {
  const { plan } = options;
  const buildah = (args: string[]) =>
    ctx.buildah.run(args, { onLine: (l) => ctx.sink.line(l), signal: ctx.signal });
  const tarFile = join(ctx.workDir, "artifacts.tar");
  let container: string | null = null;
  try {
    // s2i's default incremental pull policy, if-not-present: the previous image this runner
    // built is kept locally under the output's name, and artifacts are only a cache.
    const pulled = await buildah([
      "pull",
      "--quiet",
      ...authArgs(ctx.pushAuthFile ?? ctx.pullAuthFile),
      "--policy",
      "missing",
      options.previousImage,
    ]);
    if (pulled.aborted) throw ctx.signal.reason;
    if (pulled.exitCode !== 0)
      throw new SkipIncremental(`no previous image ${options.previousImage}`);

    const from = await ctx.buildah.run(["from", "--pull=never", "--quiet", options.previousImage], {
      signal: ctx.signal,
      onLine: (l) => ctx.sink.line(l),
      stdout: "capture",
    });
    if (from.aborted) throw ctx.signal.reason;
    if (from.exitCode !== 0)
      throw new SkipIncremental("cannot start a container of the previous image");
    container = from.stdout.trim().split("\n").pop() ?? null;
    if (!container) throw new SkipIncremental("buildah from printed no container name");

    let script = plan.scripts.saveArtifacts.path;
    if (options.uploadedScript) {
      const copied = await buildah([
        "copy",
        "--chmod",
        "0755",
        container,
        options.uploadedScript,
        script,
      ]);
      if (copied.aborted) throw ctx.signal.reason;
      if (copied.exitCode !== 0)
        throw new SkipIncremental(
          "cannot copy the source's save-artifacts into the previous image",
        );
    }
    ctx.sink.line(`Saving artifacts of ${options.previousImage} with ${script}`);
    // s2i's rule: no save-artifacts script means no artifacts, not a failure.
    const quoted = `'${script.replace(/'/g, `'\\''`)}'`;
    const saved = await ctx.buildah.run(
      [
        "run",
        ...ctx.buildah.containerRunArgs(),
        "--user",
        plan.assembleUser,
        container,
        "--",
        "/bin/sh",
        "-c",
        `if [ -x ${quoted} ]; then exec ${quoted}; fi`,
      ],
      {
        signal: ctx.signal,
        // stderr is the script's talk: the log. stdout is the tar: a file, never the log.
        onLine: (l) => ctx.sink.line(l),
        stdout: { file: tarFile },
      },
    );
    if (saved.aborted) throw ctx.signal.reason;
    if (saved.exitCode !== 0)
      throw new SkipIncremental(`save-artifacts exited ${saved.exitCode ?? saved.signal}`);
    const size = (await stat(tarFile)).size;
    if (size === 0) {
      ctx.sink.line("The previous image saved no artifacts");
      return false;
    }
    await safeExtractTar(tarFile, options.artifactsDir, { maxBytes: maxArtifactBytes });
    ctx.sink.line(
      `Restored ${(size / 1024 / 1024).toFixed(1)} MiB of artifacts from the previous build`,
    );
    return true;
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const why = error instanceof Error ? error.message : String(error);
    ctx.sink.line(`warning: incremental build not possible (${why}); building clean`);
    await rm(options.artifactsDir, { recursive: true, force: true });
    return false;
  } finally {
    await rm(tarFile, { force: true });
    // Without the build's signal: a cancelled build must still not leave its container behind.
    if (container) {
      await ctx.buildah.run(["rm", container]).catch(() => undefined);
    }
  }
}
