import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { describeBuild, describeBuildConfig, describeImageStream } from "../output/describe.js";
import { parseResourceArgs } from "../resource-types.js";
import type { Build } from "../resources.js";

/** How many recent builds `describe bc` lists; the rest are one `kiln get builds --bc` away. */
const recentBuilds = 5;

export async function describeCommand(
  ctx: CommandContext,
  typeArg: string,
  nameArg: string | undefined,
  options: { namespace?: string | undefined },
): Promise<void> {
  const { type, name } = parseResourceArgs(typeArg, nameArg, [
    "buildconfigs",
    "builds",
    "imagestreams",
  ]);
  if (name === undefined)
    throw new UsageError(`describe needs a name: kiln describe ${typeArg} NAME`);
  const namespace = ctx.namespace(options.namespace);
  const client = ctx.client();
  const now = ctx.io.now();
  switch (type) {
    case "buildconfigs": {
      const bc = await client.getBuildConfig(namespace, name);
      let builds: Build[] = [];
      try {
        builds = (await client.listBuilds(namespace, { buildConfig: name })).slice(0, recentBuilds);
      } catch {
        // The BuildConfig itself is what was asked for; its builds are a bonus.
      }
      ctx.out(describeBuildConfig(bc, builds, now, ctx.getConfig().webhookUrl));
      return;
    }
    case "builds":
      ctx.out(describeBuild(await client.getBuild(namespace, name), now));
      return;
    case "imagestreams":
      ctx.out(describeImageStream(await client.getImageStream(namespace, name), now));
      return;
    default:
      // parseResourceArgs admits only the kinds above.
      throw new UsageError(`kiln describe does not take ${typeArg}`);
  }
}
