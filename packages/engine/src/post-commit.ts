import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  BuildStep,
  FailureReason,
  postCommitArgv,
  postCommitEnv,
  renderPostCommitDockerfile,
  type HookImage,
} from "@kiln/domain";
import type { BuildContext } from "./build-context.js";

/**
 * The BuildConfig's `spec.postCommit` hook, on the image the strategy committed to
 * `ctx.localTag` and before anything is pushed (so the strategy must not push as it commits
 * when there is a hook). It runs as a `buildah bud` of one exec-form RUN on that image: the
 * hook gets exactly what the build's RUN steps get (isolation, OCI runtime, network and its
 * hooks, user namespace), the image's USER and WORKDIR, and the build's env. Whatever the hook
 * changes is committed to a throwaway tag, removed after, never to the output. A non-zero exit
 * fails the build `PostCommitHookFailed`. No hook: nothing happens.
 */
export async function runPostCommitHook(ctx: BuildContext): Promise<void> {
  const hook = ctx.job.spec.postCommit;
  if (!hook) return;
  ctx.sink.step(BuildStep.PostCommit);
  const image = ctx.localTag;
  // Only the args-only form uses the image's entrypoint: inspect it then alone.
  const argv = postCommitArgv(
    hook,
    hook.script === undefined && hook.command === undefined
      ? await hookImage(ctx, image)
      : { entrypoint: [] },
  );
  const dockerfile = join(ctx.workDir, "Dockerfile.post-commit");
  const contextDir = join(ctx.workDir, "post-commit-context");
  await mkdir(contextDir, { recursive: true });
  await writeFile(
    dockerfile,
    renderPostCommitDockerfile({ image, argv, env: postCommitEnv(ctx.job.spec) }),
  );
  const scratchTag = `${image.slice(0, image.lastIndexOf(":"))}:post-commit`;
  ctx.sink.line(
    `Running the post-commit hook in a container of the new image: ${JSON.stringify(argv)}`,
  );

  // The hook's own output goes to the log; buildah's STEP lines (which would echo the env) and
  // the scratch commit's chatter do not, unless the commit fails.
  const commitLine = `COMMIT ${scratchTag}`;
  let committing = false;
  const held: string[] = [];
  const started = Date.now();
  try {
    const result = await ctx.buildah.run(
      [
        "bud",
        "--force-rm",
        "--layers=false",
        ...ctx.buildah.runArgs(),
        "--pull=never",
        "--file",
        dockerfile,
        "--tag",
        scratchTag,
        contextDir,
      ],
      {
        signal: ctx.signal,
        build: ctx.job.id,
        onLine: (line) => {
          if (committing) return void held.push(line);
          // Output the hook did not end with a newline runs into buildah's COMMIT line.
          if (line.endsWith(commitLine)) {
            committing = true;
            const hookOutput = line.slice(0, -commitLine.length);
            if (hookOutput) ctx.sink.line(hookOutput);
            held.push(commitLine);
          } else if (!/^STEP \d+\/\d+: /.test(line)) ctx.sink.line(line);
        },
      },
    );
    if (result.aborted) throw ctx.signal.reason;
    const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (result.exitCode !== 0 && committing) {
      for (const line of held) ctx.sink.line(line);
      throw new BuildFailure(
        FailureReason.CommitFailed,
        `the post-commit hook passed, but its container could not be committed (exit ${result.exitCode ?? result.signal})`,
      );
    }
    if (result.exitCode !== 0)
      throw new BuildFailure(
        FailureReason.PostCommitHookFailed,
        `the post-commit hook failed (exit ${result.exitCode ?? result.signal}) after ${took}; nothing was pushed`,
      );
    ctx.sink.line(`The post-commit hook passed in ${took}`);
  } finally {
    // Without the build's signal: a cancelled build must not leave the scratch image behind.
    if (committing) await ctx.buildah.run(["rmi", "--force", scratchTag]).catch(() => undefined);
  }
}

interface InspectedEntrypoint {
  OCIv1?: { config?: { Entrypoint?: string[] | null } };
}

/** The committed image's entrypoint, which `args` alone are given to. */
async function hookImage(ctx: BuildContext, image: string): Promise<HookImage> {
  const result = await ctx.buildah.run(["inspect", "--type", "image", image], {
    signal: ctx.signal,
    onLine: (l) => ctx.sink.line(l),
    stdout: "capture",
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0)
    throw new BuildFailure(
      FailureReason.PostCommitHookFailed,
      `cannot read the entrypoint of the new image for the post-commit hook (exit ${result.exitCode ?? result.signal})`,
    );
  const doc = JSON.parse(result.stdout) as InspectedEntrypoint;
  return { entrypoint: doc.OCIv1?.config?.Entrypoint ?? [] };
}
