import { spawn } from "node:child_process";
import { open } from "node:fs/promises";

export interface RunCommandOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Every line the command prints on stderr, and on stdout unless `stdout` says otherwise. */
  onLine?: (line: string) => void;
  /**
   * Where stdout goes: `"log"` (default) interleaves it with stderr through `onLine`, as build
   * output should; `"capture"` returns it as `stdout` (JSON, an ID); `{ file }` writes it there
   * untouched (a tar that must never reach the log).
   */
  stdout?: "log" | "capture" | { file: string };
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
  /** stdout, when `stdout: "capture"`; otherwise "". */
  stdout: string;
}

/** Runs a command in its own process group, streaming its output line by line. */
export async function runCommand(options: RunCommandOptions): Promise<CommandResult> {
  if (options.signal?.aborted) return { exitCode: null, signal: null, aborted: true, stdout: "" };
  const mode = options.stdout ?? "log";
  const file = typeof mode === "object" ? await open(mode.file, "w", 0o600) : null;
  try {
    return await new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ["ignore", file ? file.fd : "pipe", "pipe"],
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
      const captured: Buffer[] = [];
      if (mode === "capture") child.stdout?.on("data", (c: Buffer) => captured.push(c));
      else child.stdout?.on("data", (c: Buffer) => out.push(c));
      child.stderr?.on("data", (c: Buffer) => err.push(c));
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
        resolve({ exitCode, signal, aborted, stdout: Buffer.concat(captured).toString("utf8") });
      });
    });
  } finally {
    await file?.close();
  }
}
