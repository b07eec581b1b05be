import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeS2IDockerfile } from "@kiln/engine";
import { CommandFailedError, runChecked } from "@kiln/runtime";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import type { WireImageRef } from "../resources.js";

/** The Dockerfile could not be written: the source, an image or the directory is the problem. */
class AsDockerfileError extends CliError {
  readonly reason = "AsDockerfileFailed";
}

export interface AsDockerfileOptions {
  namespace: string;
  dir: string;
  commit?: string | undefined;
  env: { name: string; value: string }[];
  /** `--from-dir`: this directory is the source, in place of the BuildConfig's git. */
  fromDir?: string | undefined;
}

/** The parts of an OCI image config `skopeo inspect --config` prints that the planner reads. */
interface OciConfig {
  config?: { Labels?: Record<string, string>; User?: string; Env?: string[]; WorkingDir?: string };
}

/**
 * `kiln start-build NAME --as-dockerfile DIR` (s2i's `--as-dockerfile`): the Dockerfile and the
 * `upload/` context Kiln would build for a Source BuildConfig, written to DIR, so any builder
 * builds the same image (`buildah bud DIR`). Nothing is started on Kiln.
 */
export async function asDockerfileCommand(
  ctx: CommandContext,
  name: string,
  options: AsDockerfileOptions,
): Promise<void> {
  const client = ctx.client();
  const bc = await client.getBuildConfig(options.namespace, name);
  const spec = bc.spec ?? {};
  const strategy = spec.strategy?.sourceStrategy;
  if (spec.strategy?.type !== "Source" || !strategy?.from)
    throw new UsageError(
      `--as-dockerfile is for Source (S2I) BuildConfigs; ${name} is ${spec.strategy?.type ?? "of no strategy"} (its Dockerfile is in its source)`,
    );
  const builderImage = await pullable(ctx, strategy.from, options.namespace);
  const runtimeRef = (strategy as { runtimeImage?: WireImageRef }).runtimeImage;
  const runtimeImage = runtimeRef ? await pullable(ctx, runtimeRef, options.namespace) : null;
  const [builder, runtime] = await Promise.all([
    imageConfig(ctx, builderImage),
    runtimeImage ? imageConfig(ctx, runtimeImage) : Promise.resolve(null),
  ]);

  const work = await mkdtemp(join(tmpdir(), "kiln-as-dockerfile-"));
  try {
    const git = spec.source?.git;
    let sourceDir: string;
    const labels: [string, string][] = [];
    if (options.fromDir !== undefined) {
      sourceDir = resolve(ctx.io.cwd, options.fromDir);
    } else if (git?.uri) {
      sourceDir = join(work, "source");
      const commit = await checkout(git.uri, git.ref, options.commit, sourceDir, ctx.io.env);
      labels.push(
        ["io.openshift.build.commit.id", commit],
        ["io.openshift.build.source-location", git.uri],
      );
      if (git.ref) labels.push(["io.openshift.build.commit.ref", git.ref]);
    } else {
      throw new UsageError(
        `BuildConfig ${name} has no git source: give the source with --from-dir DIR`,
      );
    }
    labels.push(["io.openshift.build.image", builderImage]);
    const strategyFields = strategy as {
      env?: { name: string; value?: string }[];
      scripts?: string;
      runtimeArtifacts?: { sourcePath: string; destinationDir?: string }[];
    };
    const written = await writeS2IDockerfile({
      sourceDir,
      contextDir: spec.source?.contextDir,
      outDir: resolve(ctx.io.cwd, options.dir),
      builderImage,
      builder,
      runtime: runtime && runtimeImage ? { image: runtimeImage, config: runtime } : null,
      strategy: {
        scripts: strategyFields.scripts,
        env: (strategyFields.env ?? []).map((e) => ({ name: e.name, value: e.value ?? "" })),
        runtimeArtifacts: strategyFields.runtimeArtifacts,
      },
      buildEnv: options.env,
      labels,
    }).catch((error: unknown) => {
      throw new AsDockerfileError(`cannot write the Dockerfile: ${(error as Error).message}`);
    });
    for (const warning of written.plan.warnings) ctx.err(`Warning: ${warning}\n`);
    if ((strategy as { incremental?: boolean }).incremental)
      ctx.err("Warning: incremental: the previous image's artifacts are not part of the context\n");
    const dir = resolve(ctx.io.cwd, options.dir);
    ctx.out(
      `Wrote ${join(dir, "Dockerfile")} and its context ${join(dir, "upload")} (builder ${builderImage}); build it with: buildah bud ${dir}\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A builder reference as a build pulls it: an ImageStreamTag is its current image. */
async function pullable(
  ctx: CommandContext,
  ref: WireImageRef,
  namespace: string,
): Promise<string> {
  const name = ref.name ?? "";
  if (ref.kind !== "ImageStreamTag") return name;
  const [stream = "", tag = "latest"] = name.split(":");
  const ns = ref.namespace ?? namespace;
  const is = await ctx.client().getImageStream(ns, stream);
  const item = is.status?.tags?.find((t) => t.tag === tag)?.items?.[0];
  if (!item?.dockerImageReference)
    throw new AsDockerfileError(`ImageStreamTag ${ns}/${name} has no image yet`);
  return item.dockerImageReference;
}

async function imageConfig(ctx: CommandContext, image: string) {
  const registry = ctx.io.env.KILN_REGISTRY;
  const host = image.split("/")[0] ?? "";
  // Kiln's own registry (and a loopback one) is plain HTTP, as the engine dials it.
  const insecure = host === registry || /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host);
  let config: OciConfig;
  try {
    const { stdout } = await runChecked(
      "skopeo",
      ["inspect", "--config", `--tls-verify=${!insecure}`, `docker://${image}`],
      { env: ctx.io.env, timeoutMs: 60_000 },
    );
    config = JSON.parse(stdout) as OciConfig;
  } catch (error) {
    throw new AsDockerfileError(`cannot inspect ${image}: ${failure(error)}`);
  }
  return {
    labels: config.config?.Labels ?? {},
    user: config.config?.User ?? "",
    env: config.config?.Env ?? [],
    workingDir: config.config?.WorkingDir ?? "",
  };
}

/** Clones the source at REF (or COMMIT) into `dir`; returns the commit checked out. */
async function checkout(
  uri: string,
  ref: string | undefined,
  commit: string | undefined,
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const gitEnv = { ...env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false" };
  const git = (...args: string[]) => runChecked("git", args, { env: gitEnv, timeoutMs: 300_000 });
  try {
    await git(
      "clone",
      "--quiet",
      ...(commit ? [] : ["--depth", "1"]),
      ...(ref ? ["--branch", ref] : []),
      "--",
      uri,
      dir,
    );
    if (commit) await git("-C", dir, "checkout", "--quiet", "--detach", commit);
    return (await git("-C", dir, "rev-parse", "HEAD")).stdout.trim();
  } catch (error) {
    throw new AsDockerfileError(
      `cannot fetch the source ${uri}${commit ? ` at ${commit}` : ref ? ` at ${ref}` : ""}: ${failure(error)}`,
    );
  }
}

/** Why a command failed, in a line (see CommandFailedError.summary). */
const failure = (error: unknown) =>
  error instanceof CommandFailedError ? error.summary : (error as Error).message;
