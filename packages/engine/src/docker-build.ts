import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  buildahReservedEnvName,
  FailureReason,
  type BuildJob,
  type EnvVar,
  type SecretKeySelector,
  type BuildOutputStatus,
  type BuildRevision,
} from "@kiln/domain";
import {
  dockerfileImages,
  insertEnvAfterFrom,
  overrideLastFrom,
  writableInDockerfile,
  type StageEnv,
} from "./dockerfile.js";
import { authArgs } from "./auth-files.js";
import { budLog, buildahStep, type BuildContext } from "./build-context.js";
import { outputLabels } from "./labels.js";
import { layerAppendBuild } from "./layer-append/layer-append-build.js";
import { resolveInside } from "./source-paths.js";

/**
 * The Docker strategy: the repository's Dockerfile (or the inline one), with OpenShift's
 * `from` override, env inserted after each FROM, build args, noCache, forcePull and target,
 * built by `buildah bud`.
 */
export async function dockerBuild(ctx: BuildContext): Promise<void> {
  const docker = ctx.job.spec.strategy.dockerStrategy ?? {};
  const { dockerfile, contextDir, stageArgs } = await dockerInput(ctx);
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
      ...buildArgFlags([...(docker.buildArgs ?? []), ...stageArgs], secretEnv),
      ...(docker.noCache ? ["--no-cache"] : []),
      ...(docker.forcePull ? ["--pull=always"] : []),
      ...(docker.target ? ["--target", docker.target] : []),
      contextDir,
    ],
    // buildah pulls a FROM image as it creates the stage's container: such a failure is the pull's.
    (error) =>
      error?.startsWith("creating build container: ")
        ? FailureReason.PullImageFailed
        : FailureReason.DockerBuildFailed,
    "the Dockerfile build failed",
    budLog(ctx, ctx.localTag).onLine,
    secretEnv,
  );
}

/** An env entry as the runner hands it over: a Secret-read one keeps its `valueFrom`, its value filled in. */
type ValueEntry = EnvVar & {
  valueFrom?: { secretKeyRef?: SecretKeySelector | undefined } | undefined;
};

const fromSecret = (entry: ValueEntry): boolean => entry.valueFrom?.secretKeyRef !== undefined;

/**
 * `--build-arg` flags for `entries`. A value read from a Secret is named only (buildah takes it
 * from its environment, filled into `secretEnv`): a command line is readable by every local user
 * while the build runs, an environment by its owner alone.
 */
function buildArgFlags(
  entries: readonly ValueEntry[],
  secretEnv: Record<string, string>,
): string[] {
  return entries.flatMap((entry) => {
    if (!fromSecret(entry)) return ["--build-arg", `${entry.name}=${entry.value}`];
    const reserved = buildahReservedEnvName(entry.name);
    // Refused at apply; a build stored before that rule still must not reach buildah.
    if (reserved)
      throw new BuildFailure(
        FailureReason.DockerBuildFailed,
        `build arg ${entry.name} may not be read from a Secret: ${reserved}`,
      );
    secretEnv[entry.name] = entry.value;
    return ["--build-arg", entry.name];
  });
}

/** Private build args: what carries an env value the Dockerfile must not spell out (`insertEnvAfterFrom`). */
const stageArgPrefix = "KILN_STAGE_ENV_";

/**
 * The strategy's env (then the build's, which wins) for `insertEnvAfterFrom`, and the private
 * build args that carry the values it may not write: a Secret's (still read from buildah's
 * environment, under the private name, so no name of the user's ever reaches it) and a
 * multi-line one.
 */
function stageEnv(entries: readonly ValueEntry[]): { env: StageEnv[]; args: ValueEntry[] } {
  const env: StageEnv[] = [];
  const args: ValueEntry[] = [];
  entries.forEach((entry, i) => {
    if (!fromSecret(entry) && writableInDockerfile(entry.value)) {
      env.push({ name: entry.name, value: entry.value });
      return;
    }
    const arg = `${stageArgPrefix}${i}`;
    env.push({ name: entry.name, fromArg: arg });
    args.push({ ...entry, name: arg });
  });
  return { env, args };
}

/**
 * A Docker build without buildah when the Dockerfile only places context files on its base
 * (layer-append, see `planDockerBuild`): the pushed image; null when buildah must build it
 * (`dockerBuild`), the log saying why.
 */
export async function layerAppendDockerBuild(
  ctx: BuildContext,
  enabled: boolean,
): Promise<BuildOutputStatus | null> {
  const { stageArgs, ...input } = await dockerInput(ctx);
  // Its Dockerfile already sets the env after FROM, as buildah's does: the job it is given
  // carries none to set again, and the private args as build args with their values.
  const { spec } = ctx.job;
  const docker = spec.strategy.dockerStrategy ?? {};
  const job: BuildJob = {
    ...ctx.job,
    spec: {
      ...spec,
      env: [],
      strategy: {
        ...spec.strategy,
        dockerStrategy: {
          ...docker,
          env: [],
          buildArgs: [...(docker.buildArgs ?? []), ...stageArgs],
        },
      },
    },
  };
  return layerAppendBuild(withJob(ctx, job), input, enabled);
}

/** `ctx` seeing `job`, its state still shared with `ctx` (what a strategy sets on it is set on `ctx`). */
function withJob(ctx: BuildContext, job: BuildJob): BuildContext {
  return new Proxy(ctx, { get: (target, key) => (key === "job" ? job : Reflect.get(target, key)) });
}

/**
 * The Dockerfile as it will be built (inline or from the source, `from` override applied, env
 * inserted after each FROM), the context dir, and the private build args the env needs.
 */
async function dockerInput(
  ctx: BuildContext,
): Promise<{ dockerfile: string; contextDir: string; stageArgs: ValueEntry[] }> {
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
  const { env, args } = stageEnv([...(docker.env ?? []), ...spec.env]);
  return { dockerfile: insertEnvAfterFrom(dockerfile, env), contextDir, stageArgs: args };
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
