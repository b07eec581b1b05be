import type { CommandContext } from "../context.js";
import { renderTable } from "../output/table.js";
import { relativeTime } from "../output/time.js";
import type { WebhookDelivery } from "../resources.js";

/**
 * `kiln events [--bc NAME]`: git webhook deliveries, newest first, each with the build it made
 * or why it made none, so no delivery is ever silent.
 */
export async function eventsCommand(
  ctx: CommandContext,
  options: { namespace?: string | undefined; bc?: string | undefined; output?: string | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const items = await ctx.client().listWebhookDeliveries(namespace, { buildConfig: options.bc });
  if (options.output === "json") {
    ctx.out(`${JSON.stringify({ items }, null, 2)}\n`);
    return;
  }
  if (items.length === 0) {
    ctx.out(
      `No webhook deliveries in namespace ${namespace}${options.bc ? ` for ${options.bc}` : ""}.\n`,
    );
    return;
  }
  const now = ctx.io.now();
  ctx.out(
    renderTable(
      ["received", "buildconfig", "provider", "delivery", "outcome", "ref", "commit", "result"],
      items.map((d) => [
        relativeTime(d.receivedAt, now),
        d.buildConfig,
        d.provider,
        d.deliveryId ?? "",
        d.outcome,
        shortRef(d.ref),
        d.commit ? d.commit.slice(0, 7) : "",
        result(d),
      ]),
    ),
  );
}

function result(d: WebhookDelivery): string {
  if (d.outcome === "build-requested")
    return d.build ? `build ${d.build}` : "build requested (not created yet)";
  return [d.reason, d.message].filter(Boolean).join(": ");
}

function shortRef(ref: string | null): string {
  return (ref ?? "").replace(/^refs\/heads\//, "");
}
