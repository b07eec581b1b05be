import type { CommandContext } from "../context.js";
import { BuildEndedError } from "../errors.js";
import { terminalPhases, type Build } from "../resources.js";

/** Poll interval while waiting for a build; starts quick for short builds, backs off for long ones. */
const firstPollMs = 500;
const maxPollMs = 5_000;

/** Polls the build until it reaches a terminal phase and returns it. */
export async function waitForBuild(
  ctx: CommandContext,
  namespace: string,
  name: string,
): Promise<Build> {
  let delay = firstPollMs;
  for (;;) {
    const build = await ctx.client().getBuild(namespace, name);
    if (terminalPhases.has(build.status?.phase ?? "")) return build;
    await ctx.io.sleep(delay);
    delay = Math.min(delay * 2, maxPollMs);
  }
}

/** Streams the log to stdout as it arrives; the stream itself carries no phase (docs/api.md). */
export async function streamLog(
  ctx: CommandContext,
  namespace: string,
  name: string,
  follow: boolean,
): Promise<void> {
  for await (const chunk of ctx.client().streamLog(namespace, name, { follow })) ctx.out(chunk);
}

/** Exit rule shared by `start-build --follow/--wait`: Complete is success, any other end is an error. */
export function assertComplete(build: Build): void {
  const phase = build.status?.phase ?? "Unknown";
  if (phase === "Complete") return;
  throw new BuildEndedError(
    build.metadata.name,
    phase,
    build.status?.reason ?? undefined,
    build.status?.message ?? undefined,
  );
}

/**
 * Follows a build's log, then settles on its final state. A follow stream that ends early
 * (the API restarted, a proxy cut it) falls back to polling rather than misreporting the outcome.
 */
export async function followBuild(
  ctx: CommandContext,
  namespace: string,
  name: string,
): Promise<Build> {
  await streamLog(ctx, namespace, name, true);
  return waitForBuild(ctx, namespace, name);
}
