import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";

const streamTag = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[\w][\w.-]{0,127}$/;

/** `kiln tag [NS/]IS:TAG IS2:TAG2`: records the source's current image on the destination (cause Tag). */
export async function tagCommand(
  ctx: CommandContext,
  source: string,
  destination: string,
  options: { namespace?: string | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const slash = source.indexOf("/");
  const from =
    slash >= 0
      ? { namespace: source.slice(0, slash), name: source.slice(slash + 1) }
      : { name: source };
  if (!streamTag.test(from.name))
    throw new UsageError(`source ${JSON.stringify(source)}: want IMAGESTREAM:TAG`);
  if (!streamTag.test(destination))
    throw new UsageError(`destination ${JSON.stringify(destination)}: want IMAGESTREAM:TAG`);
  const result = await ctx.client().tagImage(namespace, from, destination);
  const verb = result.changed ? "set to" : "already at";
  ctx.out(`Tag ${destination} ${verb} ${result.dockerImageReference}.\n`);
}
