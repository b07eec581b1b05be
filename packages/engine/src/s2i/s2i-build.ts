import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  assertNever,
  BuildFailure,
  FailureReason,
  hasPostCommitHook,
  planS2IBuild,
  S2IContextDir,
  S2IScript,
  scriptsNotFoundMarker,
  type BuildOutputStatus,
  type ImageConfig,
  type S2IPlan,
  type S2IPlanInput,
  type UidRange,
} from "@kiln/domain";
import { authArgs } from "../auth-files.js";
import { budLog, buildahErrorLine, failedMessage, type BuildContext } from "../build-context.js";
import { outputLabels } from "../labels.js";
import { readBackPushedImage } from "../pushed-image.js";
import { inspectImageConfig, type ImageContext } from "./image-inspect.js";
import { saveArtifacts } from "./save-artifacts.js";
import { prepareS2ISource } from "./source-tree.js";
import { resolveInside } from "../source-paths.js";

export interface S2IBuildOptions {
  /** OpenShift's allowed-UIDs rule for assemble (and runtime) users; empty allows every user. */
  allowedUids: readonly UidRange[];
}

/**
 * The Source (S2I) strategy, by the route OpenShift 4 takes: plan the build (pure, in
 * `@kiln/domain`), lay out the context (`upload/src`, `upload/scripts`, `upload/artifacts`),
 * and `buildah bud` the generated Dockerfile, so the output is the builder (or runtime image)
 * plus one new layer.
 *
 * A build with an output commits straight to it: buildah uploads the new layer as it commits,
 * and no local image is written, pushed and removed after. Returns what was pushed, or null
 * when the image was committed to `ctx.localTag` for the engine to push: an incremental build
 * (the next one starts from the local image), a build with a post-commit hook (which must pass
 * before anything is pushed), or when another push moved the output tag before this build's
 * digest could be read back from it.
 */
export async function s2iBuild(
  ctx: BuildContext,
  options: S2IBuildOptions,
  pulled?: Promise<S2IImages>,
): Promise<BuildOutputStatus | null> {
  const { spec } = ctx.job;
  const strategy = spec.strategy.sourceStrategy;
  if (!strategy)
    throw new BuildFailure(FailureReason.InternalError, "a Source build without sourceStrategy");
  // ImageStreamTags were resolved to pullable names when the build was created.
  const builderImage = strategy.from.name;

  ctx.sink.step("PullImages");
  ctx.usedImages.add(builderImage);
  if (strategy.runtimeImage) ctx.usedImages.add(strategy.runtimeImage.name);
  if (strategy.incremental && spec.output.image) ctx.usedImages.add(spec.output.image);
  const images = await (pulled ?? pullS2IImages(ctx)).catch((error: unknown) => {
    if (error instanceof S2IPullFailure) for (const line of error.lines) ctx.sink.line(line);
    throw error;
  });
  for (const line of images.lines) ctx.sink.line(line);
  const { builder, runtime } = images;

  // The Dockerfile sits outside the context, so it never lands in the image.
  const contextDir = join(ctx.workDir, "s2i-context");
  const sourceDir = await resolveInside(ctx.sourceDir, spec.source.contextDir ?? "", "contextDir");
  const facts = await prepareS2ISource(
    sourceDir,
    join(contextDir, S2IContextDir.Source),
    join(contextDir, S2IContextDir.Scripts),
  );
  if (facts.scriptsDir)
    ctx.sink.line(`Using ${facts.scripts.join(", ")} from the source's ${facts.scriptsDir}`);
  if (facts.ignored.length > 0) ctx.sink.line(`.s2iignore: leaving out ${facts.ignored.join(" ")}`);

  const input: S2IPlanInput = {
    builderImage,
    builder,
    strategy,
    runtime,
    source: { scripts: facts.scripts, environment: facts.environment },
    buildEnv: spec.env,
    allowedUids: options.allowedUids,
    outputLabels: outputLabels(ctx.job, ctx.revision),
    outputImage: spec.output.image,
    contextDir: spec.source.contextDir,
    // A Secret's value never in the Dockerfile: buildah prints each instruction to the log.
    privateEnv: new Set(
      (strategy.env ?? []).filter((e) => e.valueFrom !== undefined).map((e) => e.name),
    ),
  };
  let plan = planS2IBuild(input);
  if (plan.incremental && spec.output.image) {
    const artifactsDir = join(contextDir, S2IContextDir.Artifacts);
    const saved = await saveArtifacts(ctx, {
      previousImage: spec.output.image,
      plan,
      uploadedScript: facts.scripts.includes(S2IScript.SaveArtifacts)
        ? join(contextDir, S2IContextDir.Scripts, S2IScript.SaveArtifacts)
        : null,
      artifactsDir,
    });
    if (saved) plan = planS2IBuild({ ...input, artifacts: true });
  }
  for (const warning of plan.warnings) ctx.sink.line(`warning: ${warning}`);
  const output = spec.output.image;
  if (output && !strategy.incremental && !hasPostCommitHook(spec)) {
    await assemble(ctx, plan, contextDir, `docker://${output}`);
    const pushed = await readBackPushedImage(ctx, output);
    switch (pushed.holds) {
      case "this-build":
        ctx.sink.line(`Pushed ${pushed.output.imageReference}`);
        return pushed.output;
      // The image's digest is unknown, so it cannot be recorded or deployed: build again, push by digest.
      case "another-image":
        ctx.sink.line(
          `warning: ${output} no longer holds this build's image (another push moved it); building again to push by digest`,
        );
        break;
      case "unknown":
        ctx.sink.line(
          `warning: could not read ${output} back to learn this build's digest; building again to push by digest`,
        );
        break;
      default:
        assertNever(pushed, "read-back");
    }
  }
  await assemble(ctx, plan, contextDir, ctx.localTag);
  return null;
}

/** The builder (and runtime) image of an S2I build, pulled and inspected; the log lines that made them. */
export interface S2IImages {
  builder: ImageConfig;
  runtime: { image: string; config: ImageConfig } | null;
  lines: string[];
}

/**
 * Pulls and inspects the images of an S2I build. Needs nothing of the source, so the local
 * engine runs it while the source is fetched; its log lines are kept and shown in their place,
 * after FetchSource.
 */
export async function pullS2IImages(
  ctx: Omit<ImageContext, "sink"> & { job: BuildContext["job"] },
): Promise<S2IImages> {
  const strategy = ctx.job.spec.strategy.sourceStrategy;
  if (!strategy)
    throw new BuildFailure(FailureReason.InternalError, "a Source build without sourceStrategy");
  const lines: string[] = [];
  const imageCtx: ImageContext = { ...ctx, sink: { line: (l) => lines.push(l) } };
  try {
    return await pullAndInspect(imageCtx, strategy, lines);
  } catch (error) {
    // The lines are shown in their place by s2iBuild: a failure must keep them (buildah's reason).
    if (error instanceof BuildFailure) throw new S2IPullFailure(error, lines);
    throw error;
  }
}

/** A failed pull or inspection of an S2I build's images, with the log lines it printed. */
class S2IPullFailure extends BuildFailure {
  constructor(
    failure: BuildFailure,
    readonly lines: readonly string[],
  ) {
    super(failure.reason, failure.message, { cause: failure });
  }
}

async function pullAndInspect(
  imageCtx: ImageContext,
  strategy: NonNullable<BuildContext["job"]["spec"]["strategy"]["sourceStrategy"]>,
  lines: string[],
): Promise<S2IImages> {
  const forcePull = strategy.forcePull ?? false;
  const builderId = await pull(imageCtx, strategy.from.name, forcePull);
  const runtimeImage = strategy.runtimeImage?.name ?? null;
  const runtimeId = runtimeImage ? await pull(imageCtx, runtimeImage, forcePull) : null;
  const builder = await inspectImageConfig(imageCtx, builderId);
  const runtime =
    runtimeImage && runtimeId
      ? { image: runtimeImage, config: await inspectImageConfig(imageCtx, runtimeId) }
      : null;
  return { builder, runtime, lines };
}

/**
 * Pulls an image for the build and returns its image ID. A reference by tag is checked against
 * the registry every time (layers already here are not fetched again), as `buildah bud` does
 * for a Dockerfile's FROM: a builder tag that moved (a security fix) must be what the next
 * build uses, not a stale copy. A reference by digest cannot move, so the local copy is enough.
 */
async function pull(ctx: ImageContext, image: string, always: boolean): Promise<string> {
  const policy = always || !image.includes("@") ? "always" : "missing";
  ctx.sink.line(`Pulling ${image}`);
  const error = buildahErrorLine();
  const result = await ctx.buildah.run(
    ["pull", "--quiet", ...authArgs(ctx.pullAuthFile), "--policy", policy, image],
    {
      onLine: (l) => {
        error.onLine(l);
        ctx.sink.line(l);
      },
      stdout: "capture",
      signal: ctx.signal,
    },
  );
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0)
    throw new BuildFailure(
      FailureReason.PullImageFailed,
      failedMessage(`pulling ${image} failed`, result, error),
    );
  const id = result.stdout.trim().split("\n").pop() ?? "";
  if (!/^[0-9a-f]{64}$/.test(id))
    throw new BuildFailure(FailureReason.PullImageFailed, `pulling ${image} printed no image ID`);
  ctx.sink.line(id);
  return id;
}

async function assemble(
  ctx: BuildContext,
  plan: S2IPlan,
  contextDir: string,
  tag: string,
): Promise<void> {
  const dockerfilePath = join(ctx.workDir, "Dockerfile.s2i");
  await writeFile(dockerfilePath, plan.dockerfile);
  // An empty upload/src would make the COPY fail: the directory must exist even for no source.
  await mkdir(join(contextDir, S2IContextDir.Source), { recursive: true });
  ctx.sink.step("Assemble");
  ctx.sink.line(
    `Assembling as user ${plan.assembleUser} with ${plan.scripts.assemble.path} (${plan.scripts.assemble.from})`,
  );
  let missingScript: string | null = null;
  const log = budLog(ctx, tag, (l) => {
    // Only the echoed line starts with the marker; buildah's "STEP n: RUN …" line quotes it.
    if (l.startsWith(scriptsNotFoundMarker))
      missingScript = l.slice(scriptsNotFoundMarker.length).trim();
    ctx.sink.line(l);
  });
  const result = await ctx.buildah.run(
    [
      "bud",
      "--force-rm",
      ...ctx.buildah.runArgs(),
      // The images were pulled above; the build must use exactly those.
      "--pull=never",
      // No layers: each stage is committed as one layer, so nothing a stage removes (secrets)
      // survives in any layer. See renderS2IDockerfile.
      "--layers=false",
      "--file",
      dockerfilePath,
      // By name only: the values come from buildah's environment, not its command line.
      ...plan.privateArgs.flatMap((p) => ["--build-arg", p.arg]),
      "--tag",
      tag,
      ...(tag.startsWith("docker://") ? authArgs(ctx.pushAuthFile) : []),
      contextDir,
    ],
    {
      onLine: (l) => log.onLine(l),
      signal: ctx.signal,
      secretEnv: Object.fromEntries(plan.privateArgs.map((p) => [p.arg, p.value])),
      build: ctx.job.id,
    },
  );
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0 && missingScript !== null)
    throw new BuildFailure(FailureReason.ScriptsNotFound, missingScript);
  const exit = result.exitCode ?? result.signal;
  // Committing to a docker:// tag is the upload: a failure there is the push's.
  if (result.exitCode !== 0 && log.committing && tag.startsWith("docker://"))
    throw new BuildFailure(
      FailureReason.PushFailed,
      `pushing ${tag.slice("docker://".length)} failed (exit ${exit})`,
    );
  if (result.exitCode !== 0)
    throw new BuildFailure(FailureReason.AssembleFailed, `the S2I assemble failed (exit ${exit})`);
}
