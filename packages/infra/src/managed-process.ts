import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";

export type ManagedProcessOptions = {
  /** Short name used in errors, e.g. `nats`. */
  name: string;
  /** Absolute path of the program. */
  command: string;
  args: readonly string[];
  /** Extra variables on top of the parent's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** stdout and stderr are appended here; without it they are discarded. */
  logFile?: string;
  /**
   * Mode of the log file, set on an existing one too (a log from an earlier run). For a program
   * whose log may show a secret, `0o600`. @default as created (0666 less the umask)
   */
  logFileMode?: number;
  /** Run as this user/group id (only meaningful when the parent is root). */
  uid?: number;
  gid?: number;
  /**
   * Signal that asks the program to shut down cleanly.
   * @default "SIGTERM" (postgres wants SIGINT: its SIGTERM waits for every client to leave)
   */
  stopSignal?: NodeJS.Signals;
};

export type ProcessExit = {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the program could not be spawned at all. */
  error?: Error;
};

/** How a process ended, as a person reads it: `code 1`, `signal SIGKILL`, `not started (ENOENT …)`. */
export function describeExit(exit: ProcessExit): string {
  if (exit.error !== undefined) return `not started (${exit.error.message})`;
  return exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
}

export type StopOptions = {
  /** How long to wait after the stop signal before SIGKILL. @default 10_000 */
  timeoutMs?: number;
};

// Children still running, so that a parent that exits without calling stop() (a crashed test
// worker, an uncaught error in `kiln up`) does not leave servers holding ports on the machine.
const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const p of running) p.signal(p.stopSignal);
  });
}

/**
 * A long-running child process (a server) with a log file and a clean, idempotent stop.
 *
 * The child gets its own process group, so Ctrl-C in the terminal reaches only the parent,
 * which then stops servers in its own order (services before the bus and the database).
 */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string | undefined;
  readonly stopSignal: NodeJS.Signals;
  /** Resolves (never rejects) when the process has exited, or failed to spawn. */
  readonly exited: Promise<ProcessExit>;

  private readonly options: ManagedProcessOptions;
  private child: ChildProcess | undefined;
  private spawnedAt: number | undefined;
  private exit: ProcessExit | undefined;
  private resolveExited!: (exit: ProcessExit) => void;
  private stopping: Promise<ProcessExit> | undefined;

  constructor(options: ManagedProcessOptions) {
    this.options = options;
    this.name = options.name;
    this.logFile = options.logFile;
    this.stopSignal = options.stopSignal ?? "SIGTERM";
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** When it was spawned (ms since the epoch); undefined before. */
  get startedAt(): number | undefined {
    return this.spawnedAt;
  }

  /** True between a successful spawn and exit. */
  get running(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  /** How it exited, once it has. */
  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  /** Spawns the program; resolves once it runs, rejects when it cannot be spawned (ENOENT, EACCES). */
  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error(`${this.name} was already started`);
    const { command, args, env, cwd, logFile, logFileMode, uid, gid } = this.options;
    let fd: number | undefined;
    if (logFile !== undefined) {
      mkdirSync(dirname(logFile), { recursive: true });
      fd = openSync(logFile, "a", logFileMode);
      // Before the child writes a line: a file from an earlier run keeps its old mode otherwise.
      if (logFileMode !== undefined) fchmodSync(fd, logFileMode);
    }
    try {
      // The child writes straight into the file descriptor: no pipe through this event loop,
      // so a busy or exiting parent never blocks a server on a full pipe.
      const child = spawn(command, args, {
        cwd,
        env: { ...process.env, ...env },
        stdio: ["ignore", fd ?? "ignore", fd ?? "ignore"],
        detached: true,
        ...(uid === undefined ? {} : { uid }),
        ...(gid === undefined ? {} : { gid }),
      });
      this.child = child;
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", () => {
          this.spawnedAt = Date.now();
          running.add(this);
          installExitHook();
          resolve();
        });
        child.once("error", (error) => {
          // "error" also fires for a failed kill(); only a spawn failure ends the process here.
          if (child.pid === undefined) {
            this.finish({ code: null, signal: null, error });
            reject(error);
          }
        });
        child.once("exit", (code, signal) => this.finish({ code, signal }));
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Sends a signal to the process itself (not its group); false when it is not running. */
  signal(sig: NodeJS.Signals): boolean {
    const pid = this.child?.pid;
    if (pid === undefined || this.exit !== undefined) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Asks the process to stop, SIGKILLs its whole process group after `timeoutMs`, and resolves
   * when it has exited. Calling it again returns the same promise.
   */
  stop(options: StopOptions = {}): Promise<ProcessExit> {
    if (this.stopping !== undefined) return this.stopping;
    if (this.child === undefined) {
      this.finish({ code: null, signal: null });
      this.stopping = this.exited;
      return this.stopping;
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.stopping = (async () => {
      if (this.exit !== undefined) return this.exit;
      this.signal(this.stopSignal);
      const timer = setTimeout(() => this.killGroup(), timeoutMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }

  /** Last `lines` lines of the log file ("" without a log file). */
  logTail(lines = 30): Promise<string> {
    return this.logFile === undefined ? Promise.resolve("") : readLogTail(this.logFile, lines);
  }

  /**
   * SIGKILLs what is left of its process group once it has exited: helpers it forked that did
   * not die with it (a PostgreSQL backend whose postmaster was killed holds the shared memory
   * a new postmaster needs). Call it right after the exit: the group's id cannot be reused while
   * a member lives, so then it reaches no other program.
   */
  reapGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.exit === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // ESRCH: nothing was left.
    }
  }

  private killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.exit !== undefined) return;
    try {
      // Negative pid: the whole group, so helpers the program forked do not outlive it.
      process.kill(-pid, "SIGKILL");
    } catch {
      this.signal("SIGKILL");
    }
  }

  private finish(exit: ProcessExit): void {
    if (this.exit !== undefined) return;
    this.exit = exit;
    running.delete(this);
    this.resolveExited(exit);
  }
}

/** Last `lines` lines of a log file; "" when it cannot be read. */
export async function readLogTail(file: string, lines = 30): Promise<string> {
  try {
    const handle = await open(file, "r");
    try {
      const { size } = await handle.stat();
      // 16 KiB is plenty for 30 lines of server logs and bounded for a huge file.
      const length = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf
        .toString("utf8")
        .split("\n")
        .slice(-lines - 1)
        .join("\n");
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}
