import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";

/** `kiln graph`: each BuildConfig with what it follows, what it pushes, and what that sets off. */
export async function graphCommand(ctx: CommandContext): Promise<void> {
  const { nodes } = await ctx.client().buildGraph();
  if (nodes.length === 0) {
    ctx.err("No BuildConfigs found.\n");
    return;
  }
  for (const node of nodes) {
    const inputs =
      node.inputs.map((i) => `${i.key}${i.paused ? " (paused)" : ""}`).join(", ") || "-";
    ctx.out(
      `${node.buildConfig}\n  follows:   ${inputs}\n  pushes:    ${node.output ?? "-"}\n  rebuilds:  ${node.downstream.join(", ") || "-"}\n`,
    );
  }
}

/** `kiln impact is/NAME:TAG`: what a change of that tag would rebuild, in order, without building. */
export async function impactCommand(
  ctx: CommandContext,
  target: string,
  options: { namespace?: string | undefined },
): Promise<void> {
  const tag = target.replace(/^(is|imagestream|imagestreamtag|istag)\//, "");
  if (!/^[^/:]+(\/[^/:]+)?:[^/:]+$/.test(tag))
    throw new UsageError(
      `expected is/NAME:TAG (or NAMESPACE/NAME:TAG), got ${JSON.stringify(target)}`,
    );
  const key = tag.includes("/") ? tag : `${ctx.namespace(options.namespace)}/${tag}`;
  const { impact = [] } = await ctx.client().buildGraph(key);
  if (impact.length === 0) {
    ctx.out(`a change of ${key} rebuilds nothing\n`);
    return;
  }
  ctx.out(`a change of ${key} rebuilds, in order:\n`);
  impact.forEach((bc, i) => ctx.out(`  ${i + 1}. ${bc}\n`));
}
