import type { BuildStatusChangedV1 } from "@kiln/bus";
import type { Logger } from "pino";
import { parseImageName } from "@kiln/registry";
import type { TagRecorder } from "@kiln/image-tags";
import { kilnPath } from "./tag-targets.js";

export interface BuildOutputRecorderOptions {
  recorder: TagRecorder;
  /** Kiln's registry: only outputs pushed there are ImageStream tags. */
  kilnRegistry: string;
  logger: Logger;
}

/**
 * A build that completed with an ImageStreamTag output moves that tag to the digest it pushed,
 * whether or not the registry notifies. Idempotent: the same status twice finds the digest
 * current and records nothing.
 */
export class BuildOutputRecorder {
  constructor(private readonly options: BuildOutputRecorderOptions) {}

  async handle(status: BuildStatusChangedV1): Promise<void> {
    if (status.phase !== "Complete" || !status.output) return;
    const image = parseImageName(status.output.image);
    const target = image ? kilnPath(image, this.options.kilnRegistry) : null;
    if (!target) return; // a DockerImage output elsewhere: no ImageStream follows it
    await this.options.recorder.record({
      ...target,
      digest: status.output.digest,
      imageReference: status.output.imageReference,
      cause: { type: "Build", build: status.name, message: `built by ${status.name}` },
    });
  }
}
