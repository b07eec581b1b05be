import { runCommand } from "./run-command.js";
import type { BuildContext } from "./build-context.js";

/**
 * The pushed image's size in the registry (config + compressed layers, as `docker manifest
 * inspect` would sum them), read back with skopeo. Informative only: when it cannot be read,
 * the build still completes and the log says why.
 */
export async function pushedImageSize(ctx: BuildContext, imageReference: string, authFile: string | null): Promise<number | undefined> {
  let raw = "";
  const result = await runCommand({
    command: "skopeo",
    // The same registries.conf as buildah, so insecure registries stay per-registry (skopeo 1.9
    // ignores CONTAINERS_REGISTRIES_CONF; its hidden --registries-conf flag works).
    args: ["--registries-conf", ctx.buildah.registriesConf, "inspect", "--raw", ...(authFile ? ["--authfile", authFile] : []), `docker://${imageReference}`],
    env: ctx.buildah.env(),
    onLine: (l) => (raw += `${l}\n`),
    signal: ctx.signal,
  }).catch(() => null);
  if (!result || result.exitCode !== 0) {
    ctx.sink.line("warning: could not read the pushed manifest to record the image size");
    return undefined;
  }
  try {
    const manifest = JSON.parse(raw) as { config?: { size?: number }; layers?: { size?: number }[] };
    return (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0);
  } catch {
    return undefined;
  }
}
