import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { StartupFailedError } from "./errors.js";
import { describeExit, type ManagedProcess } from "./managed-process.js";

export type WaitOptions = {
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between probes. @default 100 */
  intervalMs?: number;
};

/**
 * Probes until `probe` resolves true. Fails fast with the log tail when the process exits
 * (a bad flag, a busy port, a corrupt data dir) instead of waiting out the timeout.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const exit = proc.exitStatus;
    if (exit !== undefined) {
      throw new StartupFailedError(proc.name, `exited during startup (${describeExit(exit)})`, {
        logTail: await proc.logTail(),
        logFile: proc.logFile,
      });
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new StartupFailedError(
        proc.name,
        `was not ready after ${options.timeoutMs} ms`,
        { logTail: await proc.logTail(), logFile: proc.logFile },
        lastError === undefined ? undefined : { cause: lastError },
      );
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** Resolves with the first bytes the server sends (or "" on connect), rejects when it refuses. */
export function tcpProbe(
  host: string,
  port: number,
  options: { readGreeting?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const done = (fn: () => void) => {
      socket.destroy();
      fn();
    };
    socket.setTimeout(1000, () =>
      done(() => reject(new Error(`timeout connecting to ${host}:${port}`))),
    );
    socket.once("error", (err) => done(() => reject(err)));
    socket.once("connect", () => {
      if (options.readGreeting !== true) done(() => resolve(""));
    });
    socket.once("data", (data) => done(() => resolve(data.toString("utf8"))));
  });
}
