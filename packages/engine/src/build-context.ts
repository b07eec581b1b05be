import { BuildFailure, type BuildJob, type BuildLogSink, type BuildRevision, type FailureReason } from "@kiln/domain";
import type { Buildah } from "./buildah.js";
import { runCommand } from "./run-command.js";

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
  /** The local tag the strategy must commit its image to. */
  localTag: string;
  /** The commit being built, when the source is git. */
  revision: BuildRevision | null;
  /** `--authfile`s from the BuildConfig's pull and push Secrets (null: none). */
  pullAuthFile: string | null;
  pushAuthFile: string | null;
}

/** Runs a buildah command whose output is data (a mount point, an ID), not log lines. */
export async function buildahOutput(ctx: BuildContext, args: string[], reason: FailureReason, message: string): Promise<string> {
  let lastError = "";
  const result = await runCommand({
    command: ctx.buildah.binary,
    args: [...ctx.buildah.globalArgs(), ...args],
    env: ctx.buildah.env(),
    onLine: (l) => (lastError = l),
    stdout: "capture",
    signal: ctx.signal,
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0) throw new BuildFailure(reason, `${message} (exit ${result.exitCode ?? result.signal}): ${lastError}`);
  return result.stdout;
}

/** Runs one buildah command as a build step: its output goes to the build log; a failure gets `reason`. */
export async function buildahStep(ctx: BuildContext, args: string[], reason: FailureReason, message: string): Promise<void> {
  const result = await runCommand({
    command: ctx.buildah.binary,
    args: [...ctx.buildah.globalArgs(), ...args],
    env: ctx.buildah.env(),
    onLine: (l) => ctx.sink.line(l),
    signal: ctx.signal,
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0) throw new BuildFailure(reason, `${message} (exit ${result.exitCode ?? result.signal})`);
}
