import { spawn } from "node:child_process";
import { open } from "node:fs/promises";

export interface CaptureOptions {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** stderr, line by line (the build log). */
  onStderrLine?: (line: string) => void;
  /** Write stdout straight to this file instead of returning it (a tar stream, not text). */
  stdoutFile?: string;
}

export interface CaptureResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  aborted: boolean;
  /** stdout as text; empty when it went to `stdoutFile`. */
  stdout: string;
}

/**
 * Runs a command keeping stdout apart from stderr: `run-command.ts` interleaves both into the
 * log, which is right for build output but wrong for `buildah inspect` JSON and for the tar that
 * `save-artifacts` writes to stdout (binary data must never reach the log). Same process-group
 * handling as run-command: an abort kills the command and everything it forked.
 */
export async function captureCommand(options: CaptureOptions): Promise<CaptureResult> {
  if (options.signal?.aborted) return { exitCode: null, signal: null, aborted: true, stdout: "" };
  const file = options.stdoutFile ? await open(options.stdoutFile, "w", 0o600) : null;
  try {
    return await new Promise<CaptureResult>((resolve, reject) => {
      const child = spawn(options.command, options.args, {
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
        killTimer = setTimeout(() => killGroup("SIGKILL"), 2000);
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const out: Buffer[] = [];
      child.stdout?.on("data", (c: Buffer) => out.push(c));
      let rest = "";
      child.stderr?.on("data", (c: Buffer) => {
        rest += c.toString("utf8");
        const lines = rest.split(/\r?\n/);
        rest = lines.pop() ?? "";
        for (const l of lines) options.onStderrLine?.(l);
      });
      child.once("error", (error) => {
        options.signal?.removeEventListener("abort", onAbort);
        reject(error);
      });
      child.once("close", (exitCode, signal) => {
        if (rest) options.onStderrLine?.(rest);
        if (killTimer) clearTimeout(killTimer);
        killGroup("SIGKILL");
        options.signal?.removeEventListener("abort", onAbort);
        resolve({ exitCode, signal, aborted, stdout: Buffer.concat(out).toString("utf8") });
      });
    });
  } finally {
    await file?.close();
  }
}
