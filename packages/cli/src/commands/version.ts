import type { CommandContext } from "../context.js";
import { kilnVersion } from "../repo-root.js";

export function versionCommand(ctx: CommandContext): void {
  ctx.out(`kiln ${kilnVersion()}\n`);
}
