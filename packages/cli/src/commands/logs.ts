import type { CommandContext } from "../context.js";
import { ApiError, UsageError } from "../errors.js";
import { parseResourceType } from "../resource-types.js";
import { streamLog } from "./wait.js";

/**
 * Resolves `build/NAME-N`, `bc/NAME` (its latest build) or a bare `NAME-N` to a build name.
 */
export async function resolveBuildName(
  ctx: CommandContext,
  namespace: string,
  target: string,
): Promise<string> {
  const slash = target.indexOf("/");
  if (slash < 0) return target;
  const type = parseResourceType(target.slice(0, slash), ["builds", "buildconfigs"]);
  const name = target.slice(slash + 1);
  if (!name) throw new UsageError(`missing name after ${target}`);
  if (type === "builds") return name;
  const builds = await ctx.client().listBuilds(namespace, { buildConfig: name });
  // By number, not list order: the latest build is the highest number even if an older one started later.
  const latest = builds.reduce<{ name: string; number: number } | null>((best, b) => {
    const n = b.spec?.number ?? -1;
    return best === null || n > best.number ? { name: b.metadata.name, number: n } : best;
  }, null);
  if (!latest) {
    // Distinguish "no such BuildConfig" from "no builds yet": both are NotFound but read differently.
    await ctx.client().getBuildConfig(namespace, name);
    throw new ApiError(
      404,
      "NotFound",
      `buildconfig ${namespace}/${name} has no builds yet (start one with \`kiln start-build ${name}\`)`,
    );
  }
  return latest.name;
}

export async function logsCommand(
  ctx: CommandContext,
  target: string,
  options: { namespace?: string | undefined; follow?: boolean | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const name = await resolveBuildName(ctx, namespace, target);
  await streamLog(ctx, namespace, name, options.follow === true);
}
