import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import type { Writable } from "node:stream";

/**
 * Every process below `root` right now, found through /proc: a process may start its own
 * session or process group (buildah runs a RUN step so), outside the group we kill, so a cancel
 * must find them by parentage while the tree is still intact.
 */
export function descendantPids(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command (which may hold spaces) start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

/** How long an aborted command's killed processes are waited for. */
const killedWithinMs = 2_000;

/** Resolves once none of `pids` runs (gone, or exited and awaiting its parent), or after `timeoutMs`. */
async function untilDead(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const running = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
      return false;
    }
  };
  let left = pids.filter(running);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = left.filter(running);
  }
}

export interface RunCommandOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user and group (a process running as root starting one as the build user). */
  uid?: number;
  gid?: number;
  /** Every line the command prints on stderr, and on stdout unless `stdout` says otherwise. */
  onLine?: (line: string) => void;
  /**
   * Where stdout goes: `"log"` (default) interleaves it with stderr through `onLine`, as build
   * output should; `"capture"` returns it as `stdout` (JSON, an ID); `{ file }` writes it there
   * untouched (a tar that must never reach the log); `{ pipe }` streams it, untouched, into a
   * stream the caller reads while the command runs (a tar being uploaded), ending it when the
   * command's stdout ends; the command waits while that stream is full.
   */
  stdout?: "log" | "capture" | { file: string } | { pipe: Writable };
  /** Aborting kills the command's whole process group (buildah forks helpers). */
  signal?: AbortSignal;
  /** How long after SIGTERM before SIGKILL. @default 2000 */
  killGraceMs?: number;
  /**
   * On abort, SIGTERM the command itself first and the rest of its tree only with the SIGKILL:
   * buildah, told alone, stops its step and removes its working containers, which it cannot do
   * once its runtime and helpers are killed under it.
   */
  terminateLeaderFirst?: boolean;
  /**
   * Sent to the command when this process dies, however it dies (kill -9 included), through
   * util-linux's `setpriv --pdeathsig`: a build's buildah, told so, stops its step and removes
   * its containers, where it would otherwise run on orphaned. Kept across the command's own
   * exec (`nsenter … buildah`), not by what it forks.
   */
  parentDeathSignal?: NodeJS.Signals;
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
  const file =
    typeof mode === "object" && "file" in mode ? await open(mode.file, "w", 0o600) : null;
  try {
    return await new Promise<CommandResult>((resolve, reject) => {
      const [command, args] = options.parentDeathSignal
        ? [
            "setpriv",
            [
              "--pdeathsig",
              options.parentDeathSignal.replace(/^SIG/, ""),
              "--",
              options.command,
              ...options.args,
            ],
          ]
        : [options.command, options.args];
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
        stdio: ["ignore", file ? file.fd : "pipe", "pipe"],
        detached: true,
      });
      let aborted = false;
      let killTimer: NodeJS.Timeout | undefined;
      // Processes of the tree seen at abort time, killed too even after their parents died.
      const tree = new Set<number>();
      const killGroup = (sig: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(-child.pid, sig);
        } catch {
          // already gone
        }
        for (const pid of tree) {
          try {
            process.kill(pid, sig);
          } catch {
            tree.delete(pid);
          }
        }
      };
      const onAbort = () => {
        aborted = true;
        if (child.pid) for (const pid of descendantPids(child.pid)) tree.add(pid);
        if (options.terminateLeaderFirst) child.kill("SIGTERM");
        else killGroup("SIGTERM");
        killTimer = setTimeout(() => {
          if (child.pid) for (const pid of descendantPids(child.pid)) tree.add(pid);
          killGroup("SIGKILL");
        }, options.killGraceMs ?? 2000);
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
      else if (typeof mode === "object" && "pipe" in mode) child.stdout?.pipe(mode.pipe);
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
        const result = {
          exitCode,
          signal,
          aborted,
          stdout: Buffer.concat(captured).toString("utf8"),
        };
        // A SIGKILL lands a moment later: what an abort killed is gone before the caller goes
        // on (to remove the files and containers it used).
        void untilDead([...tree], killedWithinMs).then(() => resolve(result));
      });
    });
  } finally {
    await file?.close();
  }
}

/** A command `runChecked` ran could not start, exited non-zero or outlasted its timeout. */
export class CommandFailedError extends Error {
  /** Why, in a line: its last line on stderr (git's and skopeo's reason), else how it ended. */
  readonly summary: string;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    /** What it printed on stderr, trimmed ("" when it printed nothing or never started). */
    readonly stderr: string,
    why: string,
    options?: ErrorOptions,
  ) {
    super(`${command} ${args.join(" ")} failed: ${why}`, options);
    this.name = new.target.name;
    this.summary = stderr.split("\n").at(-1) || why;
  }
}

/**
 * Runs a command to its end (through `runCommand`) and gives its output; rejects with a
 * `CommandFailedError` naming the command and its stderr when it cannot start or exits
 * non-zero. `env` is added to this process's environment. Past `timeoutMs` the command's whole
 * process group is stopped and it rejects saying so (a clone of a host that stopped answering).
 */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: Pick<RunCommandOptions, "cwd" | "uid" | "gid"> & {
    env?: Record<string, string | undefined>;
    timeoutMs?: number;
  } = {},
): Promise<{ stdout: string; stderr: string }> {
  const { timeoutMs, env, ...rest } = options;
  const stderr: string[] = [];
  const failed = (why: string, cause?: unknown) =>
    new CommandFailedError(command, args, stderr.join("\n").trim(), why, { cause });
  let result: CommandResult;
  try {
    result = await runCommand({
      command,
      args,
      ...rest,
      env: { ...process.env, ...env },
      stdout: "capture",
      onLine: (line) => stderr.push(line),
      ...(timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
    });
  } catch (error) {
    throw failed(error instanceof Error ? error.message : String(error), error);
  }
  const text = stderr.join("\n");
  if (result.aborted) throw failed(`still running after ${timeoutMs} ms, stopped`);
  if (result.exitCode !== 0)
    throw failed(text.trim() || `exit ${result.exitCode ?? result.signal ?? "unknown"}`);
  return { stdout: result.stdout, stderr: text };
}
