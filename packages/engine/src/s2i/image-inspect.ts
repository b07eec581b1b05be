import { BuildFailure, FailureReason, type ImageConfig } from "@kiln/domain";
import type { BuildContext } from "../build-context.js";
import { runCommand } from "../run-command.js";

interface InspectedImage {
  OCIv1?: { config?: { User?: string; Env?: string[] | null; WorkingDir?: string; Labels?: Record<string, string> | null } };
}

/**
 * The config of a local image (`buildah inspect --type image`). buildah 1.28 has no `json`
 * template function, so the whole document is parsed rather than a `--format` of one field.
 */
export async function inspectImageConfig(ctx: BuildContext, image: string): Promise<ImageConfig> {
  const result = await runCommand({
    command: ctx.buildah.binary,
    args: [...ctx.buildah.globalArgs(), "inspect", "--type", "image", image],
    env: ctx.buildah.env(),
    signal: ctx.signal,
    onLine: (l) => ctx.sink.line(l),
      stdout: "capture",
  });
  if (result.aborted) throw ctx.signal.reason;
  if (result.exitCode !== 0) throw new BuildFailure(FailureReason.PullImageFailed, `cannot inspect ${image} (exit ${result.exitCode ?? result.signal})`);
  let doc: InspectedImage;
  try {
    doc = JSON.parse(result.stdout) as InspectedImage;
  } catch (error) {
    throw new BuildFailure(FailureReason.InternalError, `buildah inspect of ${image} did not print JSON`, { cause: error });
  }
  const config = doc.OCIv1?.config ?? {};
  return { labels: config.Labels ?? {}, user: config.User ?? "", env: config.Env ?? [], workingDir: config.WorkingDir ?? "" };
}
