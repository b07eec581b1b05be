import type { CommandContext } from "../context.js";
import { webhookLines } from "../output/webhooks.js";

/**
 * `kiln webhooks NAME`: the URLs of each webhook trigger of a BuildConfig, and where the secret
 * each needs is kept (see `webhookLines`); never the secret itself.
 */
export async function webhooksCommand(
  ctx: CommandContext,
  name: string,
  options: { namespace?: string | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const bc = await ctx.client().getBuildConfig(namespace, name);
  const lines = webhookLines(
    { ...bc, metadata: { ...bc.metadata, namespace } },
    ctx.getConfig().webhookUrl,
  );
  if (lines.length === 0) {
    ctx.out(
      `BuildConfig ${name} has no webhook triggers (add one under spec.triggers, e.g. {type: GitHub, github: {secret: …}})\n`,
    );
    return;
  }
  ctx.out(`${lines.join("\n")}\n`);
}
