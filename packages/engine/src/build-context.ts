import {
  BuildFailure,
  BuildStep,
  type BuildJob,
  type BuildLogSink,
  type BuildRevision,
  type FailureReason,
} from "@kiln/domain";
import type { RegistryClient } from "@kiln/registry";
import type { CommandResult } from "@kiln/runtime";
import type { Buildah } from "./buildah.js";

/** What every strategy gets: the fetched source and a place of its own. */
export interface BuildContext {
  job: BuildJob;
  sink: BuildLogSink;
  signal: AbortSignal;
  buildah: Buildah;
  /** The build's private work dir (removed afterwards). */
  workDir: string;
  /** The fetched source tree (`<workDir>/src`); `contextDir` is not applied yet. */
  sourceDir: string;
  /** Reads what was pushed (digest, size) over the registry's HTTP API. */
  registry: RegistryClient;
  /** The local tag the strategy commits its image to, unless it pushes straight to the output. */
  localTag: string;
  /** Set once a strategy starts committing to `localTag`: the image the engine must remove afterwards. */
  localImageCommitted: boolean;
  /** The images this build used (FROM, builder, runtime, image sources), for the image cache's LRU. */
  usedImages: Set<string>;
  /** The commit being built, when the source is git. */
  revision: BuildRevision | null;
  /** `--authfile`s from the BuildConfig's pull and push Secrets (null: none). */
  pullAuthFile: string | null;
  pushAuthFile: string | null;
}

/** Runs one buildah command as a build step: its output goes to the build log; a failure gets `reason`. */
export async function buildahStep(
  ctx: BuildContext,
  args: string[],
  /** The failure's reason, or how to tell it from buildah's own (`Error: …`, null when none). */
  reason: FailureReason | ((buildahError: string | null) => FailureReason),
  message: string,
  onLine = (l: string) => ctx.sink.line(l),
  secretEnv: Readonly<Record<string, string>> = {},
): Promise<void> {
  const error = buildahErrorLine();
  const result = await ctx.buildah.run(args, {
    onLine: (line) => {
      error.onLine(line);
      onLine(line);
    },
    signal: ctx.signal,
    build: ctx.job.id,
    secretEnv,
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0)
    throw new BuildFailure(
      typeof reason === "function" ? reason(error.reason) : reason,
      failedMessage(message, result, error),
    );
}

/**
 * Watches a buildah command's output for its reason: the last `Error: …` line it printed
 * ("manifest unknown", "unauthorized", "connection refused", …), without the prefix.
 */
export function buildahErrorLine(): { onLine(line: string): void; readonly reason: string | null } {
  let reason: string | null = null;
  return {
    onLine(line) {
      const error = /^Error: (.+)$/.exec(line);
      if (error?.[1]) reason = error[1];
    },
    get reason() {
      return reason;
    },
  };
}

/** `<message>: <buildah's reason> (exit <code>)`, for a failure's status message. */
export function failedMessage(
  message: string,
  result: Pick<CommandResult, "exitCode" | "signal">,
  error: { readonly reason: string | null },
): string {
  return `${message}${error.reason ? `: ${error.reason}` : ""} (exit ${result.exitCode ?? result.signal})`;
}

/** What `budLog` saw of a `buildah bud`. */
export interface BudLog {
  onLine(line: string): void;
  /** buildah got as far as committing the final image (for a `docker://` tag: pushing it). */
  readonly committing: boolean;
}

/**
 * The log of a `buildah bud --tag <tag>`: the build's output, with the Commit step marked where
 * buildah starts committing the final image; and the Push step right after it when the tag is
 * a `docker://` one, which buildah uploads as it commits.
 */
export function budLog(
  ctx: BuildContext,
  tag: string,
  onLine = (l: string) => ctx.sink.line(l),
): BudLog {
  if (tag === ctx.localTag) ctx.localImageCommitted = true;
  const commitLine = `COMMIT ${tag}`;
  let committing = false;
  return {
    onLine(line) {
      if (line === commitLine) {
        committing = true;
        ctx.sink.step(BuildStep.Commit);
      }
      onLine(line);
      if (line === commitLine && tag.startsWith("docker://")) ctx.sink.step(BuildStep.Push);
    },
    get committing() {
      return committing;
    },
  };
}
