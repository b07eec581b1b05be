import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BuildStep,
  type BuildEngine,
  type BuildJob,
  type BuildLogSink,
  type BuildOutputStatus,
} from "@kiln/domain";

export interface NoopEngineOptions {
  /** How long each "build" takes. @default 0 */
  buildMs?: number;
}

/**
 * For benchmarks only (`BUILD_RUNNER_ENGINE=noop`): fetches nothing, builds nothing, pushes
 * nothing, and reports an output digest made from the build id, so that what a benchmark
 * measures is Kiln's own machinery (triggers, scheduling, dispatch, status, ImageStream moves,
 * cascades) without git or buildah. The digests name no image in any registry: nothing may
 * pull what this engine "built".
 */
export class NoopEngine implements BuildEngine {
  constructor(private readonly options: NoopEngineOptions = {}) {}

  async run(
    job: BuildJob,
    sink: BuildLogSink,
    signal: AbortSignal,
  ): Promise<BuildOutputStatus | null> {
    sink.step(BuildStep.FetchSource);
    sink.step(BuildStep.Build);
    sink.line("noop engine: nothing is built (benchmark mode)");
    if (this.options.buildMs) await sleep(this.options.buildMs, undefined, { signal });
    signal.throwIfAborted();
    const image = job.spec.output.image;
    if (!image) return null;
    sink.step(BuildStep.Push);
    const digest = `sha256:${createHash("sha256").update(job.id).digest("hex")}`;
    const repository = image.replace(/:[^/:]+$/, "");
    return { image, digest, imageReference: `${repository}@${digest}`, size: 0 };
  }
}
