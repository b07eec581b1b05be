import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  buildahReservedEnvName,
  FailureReason,
  type BuildJob,
  type EnvVar,
  type BuildOutputStatus,
  type BuildRevision,
} from "@kiln/domain";
import { dockerfileImages, overrideLastFrom } from "./dockerfile.js";
import { authArgs } from "./auth-files.js";
import { budLog, buildahStep, type BuildContext } from "./build-context.js";
import { outputLabels } from "./labels.js";
import { layerAppendBuild } from "./layer-append/layer-append-build.js";
import { resolveInside } from "./source-paths.js";

/**
 * The Docker strategy: the repository's Dockerfile (or the inline one), with OpenShift's
 * `from` override, build args, env, noCache, forcePull and target, built by `buildah bud`.
 */
export async function dockerBuild(ctx: BuildContext): Promise<void> {
  const { spec } = ctx.job;
  const docker = spec.strategy.dockerStrategy ?? {};
  const { dockerfile, contextDir } = await dockerInput(ctx);
  for (const image of dockerfileImages(dockerfile)) ctx.usedImages.add(image);
  // Written outside the context, so it never ends up in the image by a `COPY . .`.
  const dockerfileUsed = join(ctx.workDir, "Dockerfile.kiln");
  await writeFile(dockerfileUsed, dockerfile);

  ctx.sink.step("Build");
  const secretEnv: Record<string, string> = {};
  await buildahStep(
    ctx,
    [
      "bud",
      // Even a failed build removes its stages' containers (buildah allows it only beside --layers).
      "--force-rm",
      "--layers=false",
      ...ctx.buildah.runArgs(),
      ...authArgs(ctx.pullAuthFile),
      "--file",
      dockerfileUsed,
      "--tag",
      ctx.localTag,
      ...labelArgs(ctx.job, ctx.revision),
      ...valueArgs("--build-arg", docker.buildArgs ?? [], secretEnv),
      ...valueArgs("--env", [...(docker.env ?? []), ...spec.env], secretEnv),
      ...(docker.noCache ? ["--no-cache"] : []),
      ...(docker.forcePull ? ["--pull=always"] : []),
      ...(docker.target ? ["--target", docker.target] : []),
      contextDir,
    ],
    FailureReason.DockerBuildFailed,
    "the Dockerfile build failed",
    budLog(ctx, ctx.localTag).onLine,
    secretEnv,
  );
}

/** An env entry as the runner hands it over: a Secret-read one keeps its `valueFrom`, its value filled in. */
type ValueEntry = EnvVar & { valueFrom?: { secretKeyRef?: unknown } | undefined };

/**
 * `--env`/`--build-arg` flags for `entries`. A value read from a Secret is named only (buildah
 * takes it from its environment, filled into `secretEnv`): a command line is readable by every
 * local user while the build runs, an environment by its owner alone.
 */
function valueArgs(
  flag: "--env" | "--build-arg",
  entries: readonly ValueEntry[],
  secretEnv: Record<string, string>,
): string[] {
  return entries.flatMap((entry) => {
    if (!entry.valueFrom?.secretKeyRef) return [flag, `${entry.name}=${entry.value}`];
    const reserved = buildahReservedEnvName(entry.name);
    // Refused at apply; a build stored before that rule still must not reach buildah.
    if (reserved)
      throw new BuildFailure(
        FailureReason.DockerBuildFailed,
        `${flag === "--env" ? "env" : "build arg"} ${entry.name} may not be read from a Secret: ${reserved}`,
      );
    secretEnv[entry.name] = entry.value;
    return [flag, entry.name];
  });
}

/**
 * The Docker strategy without buildah when the Dockerfile only places context files on its
 * base (layer-append, see `planDockerBuild`): the pushed image; null when buildah must build
 * it (`dockerBuild`), the log saying why.
 */
export async function layerAppendDockerBuild(
  ctx: BuildContext,
  enabled: boolean,
): Promise<BuildOutputStatus | null> {
  return layerAppendBuild(ctx, await dockerInput(ctx), enabled);
}

/** The Dockerfile as it will be built (inline or from the source, `from` override applied) and the context dir. */
async function dockerInput(ctx: BuildContext): Promise<{ dockerfile: string; contextDir: string }> {
  const { spec } = ctx.job;
  const contextDir = await resolveInside(ctx.sourceDir, spec.source.contextDir ?? "", "contextDir");
  const docker = spec.strategy.dockerStrategy ?? {};
  const dockerfilePath = docker.dockerfilePath ?? "Dockerfile";
  let dockerfile =
    spec.source.dockerfile ??
    (await readDockerfile(
      await resolveInside(
        ctx.sourceDir,
        join(spec.source.contextDir ?? "", dockerfilePath),
        "dockerfilePath",
      ),
      dockerfilePath,
    ));
  if (docker.from) dockerfile = overrideLastFrom(dockerfile, docker.from.name);
  return { dockerfile, contextDir };
}

function labelArgs(job: BuildJob, revision: BuildRevision | null): string[] {
  return outputLabels(job, revision).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
}

async function readDockerfile(path: string, shown: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    throw new BuildFailure(
      FailureReason.DockerBuildFailed,
      `no Dockerfile at ${shown} in the source`,
    );
  }
}
