import type { BuildOutputStatus, BuildRevision, BuildSpec } from "./resources/build.js";

/** Step markers a build log shows, in order (`--> FetchSource`). */
export const BuildStep = {
  FetchSource: "FetchSource",
  PullImages: "PullImages",
  Build: "Build",
  Assemble: "Assemble",
  Commit: "Commit",
  /** The BuildConfig's post-commit hook, in a container of the committed image, before the push. */
  PostCommit: "PostCommit",
  Push: "Push",
} as const;
export type BuildStep = (typeof BuildStep)[keyof typeof BuildStep];

/** One build handed to an engine. */
export interface BuildJob {
  id: string;
  namespace: string;
  name: string;
  spec: BuildSpec;
  /** Registry credentials (docker config JSON) resolved from the BuildConfig's Secrets. Never logged. */
  credentials?: { pull?: string | undefined; push?: string | undefined } | undefined;
  /**
   * Opens the uploaded content of a binary build (`spec.binaryInput`), streamed from wherever
   * the runner keeps it; the engine knows nothing of NATS. Present only for binary builds;
   * may be called again to read from the start (a retried fetch).
   */
  openBinaryInput?: () => AsyncIterable<Uint8Array>;
}

/** Where an engine writes what the user sees in `kiln logs`. */
export interface BuildLogSink {
  line(text: string): void;
  step(step: BuildStep): void;
  /** The engine fetched the source: the commit it builds, recorded on the build. */
  sourceFetched(revision: BuildRevision): void;
}

/**
 * The port a build-runner drives: `local` (buildah on this host) or, later, `kubernetes`.
 * `run` throws a `BuildFailure` with a reason, or the abort signal's reason when aborted.
 * It returns null output for a build without `spec.output.to` (built, not pushed).
 */
export interface BuildEngine {
  /**
   * Called once before the runner takes any build: claims what the engine makes for this runner
   * and removes what runners that are gone left behind (work dirs, containers). Absent: nothing
   * to do.
   */
  start?(): Promise<void>;
  /** Called once the runner's builds have all ended: gives up what `start` claimed. */
  stop?(): Promise<void>;
  /**
   * Runs a build. Once it returns or throws, nothing of the build is left running or on disk
   * (an aborted build included: its processes are killed, its files and containers removed).
   */
  run(job: BuildJob, sink: BuildLogSink, signal: AbortSignal): Promise<BuildOutputStatus | null>;
  /**
   * Whether it could run a build now: null, or what stops it (a work dir it cannot write, a
   * cluster it cannot reach), for the runner's readiness. Cheap: asked on every probe. Absent:
   * always usable.
   */
  check?(): Promise<string | null>;
}
