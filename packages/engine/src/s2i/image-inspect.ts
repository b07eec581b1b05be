import { BuildFailure, FailureReason, type ImageConfig } from "@kiln/domain";
import type { BuildContext } from "../build-context.js";

interface InspectedImage {
  OCIv1?: {
    config?: {
      User?: string;
      Env?: string[] | null;
      WorkingDir?: string;
      Labels?: Record<string, string> | null;
    };
  };
}

/** What pulling and inspecting an image needs of a build: no work dir, no source. */
export type ImageContext = Pick<BuildContext, "buildah" | "signal" | "pullAuthFile"> & {
  sink: { line(text: string): void };
};

/**
 * The config of a local image (`buildah inspect --type image`), by image ID, read once per ID.
 * buildah 1.28 has no `json` template function, so the whole document is parsed rather than a
 * `--format` of one field.
 */
export async function inspectImageConfig(ctx: ImageContext, imageId: string): Promise<ImageConfig> {
  const known = ctx.buildah.imageConfigs.get(imageId);
  if (known) return known;
  const config = await inspect(ctx, imageId);
  ctx.buildah.imageConfigs.set(imageId, config);
  return config;
}

async function inspect(ctx: ImageContext, image: string): Promise<ImageConfig> {
  const result = await ctx.buildah.run(["inspect", "--type", "image", image], {
    signal: ctx.signal,
    onLine: (l) => ctx.sink.line(l),
    stdout: "capture",
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0)
    throw new BuildFailure(
      FailureReason.PullImageFailed,
      `cannot inspect ${image} (exit ${result.exitCode ?? result.signal})`,
    );
  let doc: InspectedImage;
  try {
    doc = JSON.parse(result.stdout) as InspectedImage;
  } catch (error) {
    throw new BuildFailure(
      FailureReason.InternalError,
      `buildah inspect of ${image} did not print JSON`,
      { cause: error },
    );
  }
  const config = doc.OCIv1?.config ?? {};
  return {
    labels: config.Labels ?? {},
    user: config.User ?? "",
    env: config.Env ?? [],
    workingDir: config.WorkingDir ?? "",
  };
}
