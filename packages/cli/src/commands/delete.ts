import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { kindOf, parseResourceArgs } from "../resource-types.js";

/** `kiln delete bc|is|secret NAME`. Deleting a BuildConfig deletes its builds too (server side). */
export async function deleteCommand(
  ctx: CommandContext,
  typeArg: string,
  nameArg: string | undefined,
  options: { namespace?: string | undefined },
): Promise<void> {
  const { type, name } = parseResourceArgs(typeArg, nameArg, [
    "buildconfigs",
    "imagestreams",
    "secrets",
  ]);
  if (name === undefined) throw new UsageError(`delete needs a name: kiln delete ${typeArg} NAME`);
  const namespace = ctx.namespace(options.namespace);
  const client = ctx.client();
  if (type === "buildconfigs") await client.deleteBuildConfig(namespace, name);
  else if (type === "secrets") await client.deleteSecret(namespace, name);
  else await client.deleteImageStream(namespace, name);
  ctx.out(`${kindOf[type].toLowerCase()}.kiln.dev "${name}" deleted\n`);
}
