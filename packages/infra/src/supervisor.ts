import { ProcessKeepsFailingError } from "./errors.js";
import {
  describeExit,
  readLogTail,
  type ManagedProcess,
  type ProcessExit,
} from "./managed-process.js";
import { RestartPolicy, type RestartPolicyOptions } from "./restart-policy.js";
import {
  SupervisedState,
  writeSupervisorStatus,
  type SupervisedProcessStatus,
  type SupervisorStatus,
} from "./supervisor-status.js";

/** One process a {@link Supervisor} keeps running. */
export type SupervisedProcessSpec = {
  /** Short name, unique in the supervisor: `nats`, `scheduler`. */
  name: string;
  /**
   * Starts the process with everything it needs (its config written, its data dir prepared,
   * its readiness probed) and resolves once it works; when it fails it leaves nothing running
   * and rejects. Called for the first start and again for every restart, so a restart is a
   * start like the first.
   */
  start: () => Promise<ManagedProcess>;
  /** How long a stop waits for it after the stop signal before SIGKILLing its process group. */
  stopTimeoutMs: number;
  /** Its log file, read for the last lines when it fails. */
  logFile?: string;
};

/** What the supervisor tells its owner (`kiln up` prints each). Durations in ms. */
export type SupervisorEvent =
  | {
      type: "exited";
      name: string;
      exit: ProcessExit;
      ranMs: number;
      logFile: string | undefined;
      logTail: string;
      /** It is started again after this long. */
      restartInMs: number;
    }
  | { type: "start-failed"; name: string; error: unknown; restartInMs: number }
  | { type: "restarted"; name: string; pid: number | undefined; restarts: number }
  | { type: "gave-up"; error: ProcessKeepsFailingError }
  | { type: "stopping"; names: readonly string[] }
  | { type: "stopped"; name: string; exit: ProcessExit; durationMs: number };

export type SupervisorOptions = {
  /** When a process that stopped by itself is started again (see {@link RestartPolicy}). */
  policy?: RestartPolicyOptions;
  onEvent?: (event: SupervisorEvent) => void;
  /** Written (0600, whole or not at all) on every change; `kiln status` reads it. */
  statusFile?: string;
  /** Lines of a failing process's log that events carry. @default 20 */
  logTailLines?: number;
};

type Unit = {
  spec: SupervisedProcessSpec;
  policy: RestartPolicy;
  state: SupervisedState;
  /** The process that runs (or ran last); replaced by each restart. */
  current: ManagedProcess | undefined;
  /** A start under way (first or restart); settles with `current` set or not. */
  starting: Promise<void> | undefined;
  restarts: number;
  lastExit: SupervisedProcessStatus["lastExit"];
};

/**
 * Keeps processes running: one that exits by itself is started again with its own `start`,
 * after a backoff; one that keeps failing soon after each start is given up on
 * ({@link gaveUp}), and the owner then stops the rest. A stop goes group by group in the
 * order given, each group's processes together, and waits out each one's stop timeout.
 */
export class Supervisor {
  /** Resolves with the first process given up on; never rejects, and never resolves if none is. */
  readonly gaveUp: Promise<ProcessKeepsFailingError>;

  private readonly units = new Map<string, Unit>();
  private readonly options: SupervisorOptions;
  private readonly startedAt = Date.now();
  private resolveGaveUp!: (error: ProcessKeepsFailingError) => void;
  /** Set by stop() and by giving up: nothing is started again after it. */
  private halted = false;
  private stoppedAt: number | null = null;
  private readonly wakers = new Set<() => void>();
  private statusWrite: Promise<void> = Promise.resolve();
  private statusDirty = false;

  constructor(options: SupervisorOptions = {}) {
    this.options = options;
    this.gaveUp = new Promise((resolve) => (this.resolveGaveUp = resolve));
  }

  /**
   * Starts a process and supervises it from then on. A first start that fails is not
   * retried: the error (a bad flag, a busy port) is the caller's to report.
   */
  async add(spec: SupervisedProcessSpec): Promise<ManagedProcess> {
    if (this.units.has(spec.name)) throw new Error(`${spec.name} is supervised already`);
    if (this.halted) throw new Error(`cannot start ${spec.name}: the supervisor is stopping`);
    const unit: Unit = {
      spec,
      policy: new RestartPolicy(this.options.policy),
      state: SupervisedState.Starting,
      current: undefined,
      starting: undefined,
      restarts: 0,
      lastExit: null,
    };
    this.units.set(spec.name, unit);
    this.changed();
    const started = spec.start();
    unit.starting = started.then(
      (proc) => this.running(unit, proc),
      () => {
        unit.state = SupervisedState.Failed;
        this.changed();
      },
    );
    return started;
  }

  /** The process that runs under `name` now (a restart replaces it). */
  process(name: string): ManagedProcess | undefined {
    const unit = this.units.get(name);
    return unit?.current?.running === true ? unit.current : undefined;
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      stoppedAt: this.stoppedAt,
      processes: [...this.units.values()].map((u) => {
        const proc = u.current?.running === true ? u.current : undefined;
        return {
          name: u.spec.name,
          state: u.state,
          pid: proc?.pid ?? null,
          startedAt: proc?.startedAt ?? null,
          restarts: u.restarts,
          lastExit: u.lastExit,
          logFile: u.spec.logFile ?? null,
        };
      }),
    };
  }

  /**
   * Stops everything: no more restarts, then `order`'s groups one after the other, the
   * processes of a group together (each awaited, SIGKILLed after its stop timeout). Processes
   * no group names stop first. A start under way is let finish and then stopped. Idempotent.
   */
  async stop(order: readonly (readonly string[])[] = []): Promise<void> {
    this.halted = true;
    for (const wake of this.wakers) wake();
    const named = new Set(order.flat());
    const groups = [[...this.units.keys()].filter((n) => !named.has(n)), ...order];
    for (const group of groups) {
      const units = group.flatMap((name) => this.units.get(name) ?? []);
      // A start under way (a restart that was waiting is woken and ends) settles first.
      await Promise.all(units.map((u) => u.starting));
      const live = units.filter((u) => u.current?.running === true);
      for (const u of units) {
        if (!live.includes(u) && u.state !== SupervisedState.Failed)
          u.state = SupervisedState.Stopped;
      }
      this.changed();
      if (live.length === 0) continue;
      this.emit({ type: "stopping", names: live.map((u) => u.spec.name) });
      await Promise.all(live.map((u) => this.stopUnit(u)));
    }
    this.stoppedAt ??= Date.now();
    this.changed();
    await this.flushStatus();
  }

  /** Resolves once the status file holds every change made so far. */
  async flushStatus(): Promise<void> {
    for (;;) {
      const pending = this.statusWrite;
      await pending;
      if (pending === this.statusWrite && !this.statusDirty) return;
    }
  }

  private async stopUnit(unit: Unit): Promise<void> {
    const proc = unit.current!;
    unit.state = SupervisedState.Stopping;
    this.changed();
    const begun = Date.now();
    const exit = await proc.stop({ timeoutMs: unit.spec.stopTimeoutMs });
    // Whatever it forked and left behind goes with it.
    proc.reapGroup();
    unit.state = SupervisedState.Stopped;
    this.changed();
    this.emit({ type: "stopped", name: unit.spec.name, exit, durationMs: Date.now() - begun });
  }

  private running(unit: Unit, proc: ManagedProcess): void {
    unit.current = proc;
    unit.state = SupervisedState.Running;
    this.changed();
    void proc.exited.then((exit) => this.exited(unit, proc, exit));
  }

  private async exited(unit: Unit, proc: ManagedProcess, exit: ProcessExit): Promise<void> {
    // Stopped by us: no crash.
    if (unit.state === SupervisedState.Stopping || unit.current !== proc) return;
    proc.reapGroup();
    const at = Date.now();
    unit.lastExit = { code: exit.code, signal: exit.signal, at };
    unit.state = SupervisedState.Restarting;
    this.changed();
    const logFile = proc.logFile ?? unit.spec.logFile;
    const logTail = logFile === undefined ? "" : await readLogTail(logFile, this.tailLines());
    // Everything is being stopped (or another process was given up on): no restart.
    if (this.halted) return this.settleStopped(unit);
    const ranMs = at - (proc.startedAt ?? at);
    const decision = unit.policy.afterExit(ranMs);
    if (decision.action === "give-up") {
      this.giveUp(unit, decision.fastExits, describeExit(exit), logFile, logTail);
      return;
    }
    this.emit({
      type: "exited",
      name: unit.spec.name,
      exit,
      ranMs,
      logFile,
      logTail,
      restartInMs: decision.delayMs,
    });
    unit.starting = this.restart(unit, decision.delayMs);
  }

  private settleStopped(unit: Unit): void {
    if (unit.state !== SupervisedState.Failed) unit.state = SupervisedState.Stopped;
    this.changed();
  }

  /** Waits, starts, and on a failed start waits longer and tries again, until it runs or is given up on. */
  private async restart(unit: Unit, firstDelayMs: number): Promise<void> {
    let delayMs = firstDelayMs;
    for (;;) {
      await this.sleep(delayMs);
      if (this.halted) return this.settleStopped(unit);
      unit.state = SupervisedState.Starting;
      this.changed();
      try {
        const proc = await unit.spec.start();
        unit.restarts += 1;
        this.running(unit, proc);
        this.emit({
          type: "restarted",
          name: unit.spec.name,
          pid: proc.pid,
          restarts: unit.restarts,
        });
        return;
      } catch (error) {
        if (this.halted) return this.settleStopped(unit);
        const decision = unit.policy.afterExit(null);
        if (decision.action === "give-up") {
          const logFile = unit.spec.logFile;
          const logTail = logFile === undefined ? "" : await readLogTail(logFile, this.tailLines());
          this.giveUp(unit, decision.fastExits, firstLine(error), logFile, logTail);
          return;
        }
        unit.state = SupervisedState.Restarting;
        this.changed();
        this.emit({
          type: "start-failed",
          name: unit.spec.name,
          error,
          restartInMs: decision.delayMs,
        });
        delayMs = decision.delayMs;
      }
    }
  }

  private giveUp(
    unit: Unit,
    failures: number,
    lastFailure: string,
    logFile: string | undefined,
    logTail: string,
  ): void {
    unit.state = SupervisedState.Failed;
    this.changed();
    if (this.halted) return;
    // Nothing else is restarted: the owner stops everything next.
    this.halted = true;
    for (const wake of this.wakers) wake();
    const error = new ProcessKeepsFailingError(unit.spec.name, {
      failures,
      withinMs: unit.policy.fastExitMs,
      lastFailure,
      logFile,
      logTail,
    });
    this.emit({ type: "gave-up", error });
    this.resolveGaveUp(error);
  }

  /** A wait that stop() and giving up cut short. */
  private sleep(ms: number): Promise<void> {
    if (this.halted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private tailLines(): number {
    return this.options.logTailLines ?? 20;
  }

  private emit(event: SupervisorEvent): void {
    this.options.onEvent?.(event);
  }

  /** Records that the status changed; one write at a time, each of the newest status. */
  private changed(): void {
    const file = this.options.statusFile;
    if (file === undefined) return;
    if (this.statusDirty) return;
    this.statusDirty = true;
    this.statusWrite = this.statusWrite.then(async () => {
      this.statusDirty = false;
      try {
        await writeSupervisorStatus(file, this.status());
      } catch {
        // A status that cannot be written (a full disk) must not stop the supervision itself.
      }
    });
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
