import { readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { writePrivateFile } from "./registry-auth.js";

/** What a supervised process is doing. Values are the words `kiln status` prints. */
export const SupervisedState = {
  Starting: "starting",
  Running: "running",
  /** Exited; waiting out the backoff before it is started again. */
  Restarting: "restarting",
  Stopping: "stopping",
  Stopped: "stopped",
  /** Given up on after repeated fast failures. */
  Failed: "failed",
} as const;
export type SupervisedState = (typeof SupervisedState)[keyof typeof SupervisedState];

/** One process under a supervisor, as the status file holds it (times in ms since the epoch). */
export type SupervisedProcessStatus = {
  name: string;
  state: SupervisedState;
  /** The running process's pid; null while none runs. */
  pid: number | null;
  /** When the running process was spawned; null while none runs. */
  startedAt: number | null;
  /** How many times it was started again after it exited. */
  restarts: number;
  /** How it last ended by itself (not by a stop); null when it never did. */
  lastExit: { code: number | null; signal: string | null; at: number } | null;
  /** Its log file, for whoever wants to know why. */
  logFile: string | null;
};

/** The status file: written by the supervisor on each change, read by `kiln status`. */
export type SupervisorStatus = {
  /** The supervisor's own pid (`kiln up`). */
  pid: number;
  startedAt: number;
  updatedAt: number;
  /** Set once the supervisor stopped everything; a status without it and whose pid is gone is from a supervisor that was killed. */
  stoppedAt: number | null;
  processes: SupervisedProcessStatus[];
};

/** Where `kiln up` keeps its status in a state directory. */
export function supervisorStatusFile(stateDir: string): string {
  return join(stateDir, "status.json");
}

/**
 * Writes the status so a reader never sees half a file: a private temporary file beside it,
 * renamed over it. Owner-only: it names every process and log of this Kiln.
 */
export async function writeSupervisorStatus(file: string, status: SupervisorStatus): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writePrivateFile(temporary, `${JSON.stringify(status, null, 2)}\n`);
  await rename(temporary, file);
}

/**
 * Whether the supervisor that wrote `status` still runs: it has not said it stopped, and its
 * pid is alive (a `kiln up` killed with SIGKILL never writes `stoppedAt`).
 */
export function supervisorRunning(status: SupervisorStatus): boolean {
  if (status.stoppedAt !== null) return false;
  try {
    process.kill(status.pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, and another user's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The status in `file`; null when there is none (no supervisor ever ran there). */
export async function readSupervisorStatus(file: string): Promise<SupervisorStatus | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<SupervisorStatus> | null;
  if (
    parsed === null ||
    typeof parsed !== "object" ||
    typeof parsed.pid !== "number" ||
    !Array.isArray(parsed.processes)
  ) {
    throw new Error(`${file} is not a status file of kiln up`);
  }
  return parsed as SupervisorStatus;
}
