import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { kindOf, parseResourceArgs } from "../resource-types.js";

/**
 * `kiln delete bc|is|secret|isgrant|template|token NAME`. Deleting a BuildConfig deletes its builds too
 * (server side); deleting a token revokes it at once.
 */
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
    "imagestreamgrants",
    "buildertemplates",
    "tokens",
  ]);
  if (name === undefined) throw new UsageError(`delete needs a name: kiln delete ${typeArg} NAME`);
  const client = ctx.client();
  if (type === "tokens") {
    await client.deleteToken(name);
    ctx.out(`token "${name}" deleted\n`);
    return;
  }
  const namespace = ctx.namespace(options.namespace);
  if (type === "buildconfigs") await client.deleteBuildConfig(namespace, name);
  else if (type === "secrets") await client.deleteSecret(namespace, name);
  else if (type === "imagestreamgrants") await client.deleteImageStreamGrant(namespace, name);
  else if (type === "buildertemplates") await client.deleteBuilderTemplate(namespace, name);
  else await client.deleteImageStream(namespace, name);
  ctx.out(`${kindOf[type].toLowerCase()}.kiln.dev "${name}" deleted\n`);
}
