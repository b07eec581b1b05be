import { execFile } from "node:child_process";

export type RunResult = { stdout: string; stderr: string };

/** Runs a program to completion; rejects with its stderr in the message when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || err.message}`, {
              cause: err,
            }),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}
