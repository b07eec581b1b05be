import { spawn } from "node:child_process";

export interface RunCommandOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Every line the command prints, stdout and stderr interleaved as they arrive. */
  onLine?: (line: string) => void;
  /** Aborting kills the command's whole process group (buildah forks helpers). */
  signal?: AbortSignal;
  /** How long after SIGTERM before SIGKILL. @default 2000 */
  killGraceMs?: number;
}

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when the command ended because `signal` aborted. */
  aborted: boolean;
}

/** Runs a command in its own process group, streaming its output line by line. */
export function runCommand(options: RunCommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      resolve({ exitCode: null, signal: null, aborted: true });
      return;
    }
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), options.killGraceMs ?? 2000);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const splitter = () => {
      let rest = "";
      return {
        push(chunk: Buffer) {
          rest += chunk.toString("utf8");
          const lines = rest.split(/\r?\n/);
          rest = lines.pop() ?? "";
          for (const line of lines) options.onLine?.(line);
        },
        flush() {
          if (rest) options.onLine?.(rest);
          rest = "";
        },
      };
    };
    const out = splitter();
    const err = splitter();
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.once("error", (error) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    child.once("close", (exitCode, signal) => {
      out.flush();
      err.flush();
      if (killTimer) clearTimeout(killTimer);
      // Make sure nothing the command forked outlives it (a build must not leak processes).
      killGroup("SIGKILL");
      options.signal?.removeEventListener("abort", onAbort);
      resolve({ exitCode, signal, aborted });
    });
  });
}
