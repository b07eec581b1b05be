import { readSupervisorStatus, supervisorRunning, supervisorStatusFile } from "@kiln/infra";
import type { CommandContext } from "../context.js";
import { NotRunningError } from "../errors.js";
import { formatSupervisorStatus } from "../output/status.js";
import { resolveStateDir } from "../state-dir.js";

export interface StatusOptions {
  stateDir?: string;
  output?: "json";
}

/**
 * `kiln status`: what the `kiln up` of a state dir runs, read from the status file its
 * supervisor rewrites on every change (no connection to it needed). Exits 3 when that `kiln up`
 * is not running, as `systemctl status` does, after printing what it last wrote.
 */
export async function statusCommand(ctx: CommandContext, options: StatusOptions): Promise<void> {
  const stateDir = resolveStateDir(ctx.io.cwd, options.stateDir ?? ctx.io.env.KILN_STATE_DIR);
  const status = await readSupervisorStatus(supervisorStatusFile(stateDir));
  if (status === null)
    throw new NotRunningError(`kiln up has not run under ${stateDir} (start it with \`kiln up\`)`);
  const running = supervisorRunning(status);
  if (options.output === "json") {
    ctx.out(`${JSON.stringify({ stateDir, running, ...status }, null, 2)}\n`);
  } else {
    ctx.out(formatSupervisorStatus(status, { running, stateDir, now: ctx.io.now() }));
  }
  if (!running)
    throw new NotRunningError(
      `kiln up is not running under ${stateDir} (start it with \`kiln up\`)`,
    );
}
