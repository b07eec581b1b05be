import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { consoleUrl, inDesktopSession } from "../console-url.js";
import type { CommandContext } from "../context.js";

/**
 * `kiln console`: prints the web console's URL and, in a desktop session with xdg-open, opens
 * it. Printing is the command; opening is a courtesy, so no browser (or a broken one) is never
 * an error.
 */
export function consoleCommand(ctx: CommandContext, options: { namespace?: string }): void {
  const url = consoleUrl(ctx.getConfig().apiUrl, ctx.namespace(options.namespace));
  ctx.out(`${url}\n`);
  const opener = inDesktopSession(ctx.io.env) ? onPath("xdg-open", ctx.io.env.PATH) : undefined;
  if (!opener) return;
  // Detached and unwaited: xdg-open may hand the URL to a browser that runs for hours.
  const child = spawn(opener, [url], { detached: true, stdio: "ignore" });
  child.on("error", () => undefined);
  child.unref();
  ctx.err(`Opening it with ${opener}.\n`);
}

function onPath(command: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}
