import type { CommandContext } from "../context.js";
import { qualifiedName } from "../resources.js";
import { resolveBuildName } from "./logs.js";

/** `kiln cancel-build NAME-N` (or `build/NAME-N`, `bc/NAME` for its latest build). */
export async function cancelBuildCommand(
  ctx: CommandContext,
  target: string,
  options: { namespace?: string | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const name = await resolveBuildName(ctx, namespace, target);
  const build = await ctx.client().cancelBuild(namespace, name);
  ctx.out(`${qualifiedName("Build", build.metadata?.name ?? name)} cancelled\n`);
}
