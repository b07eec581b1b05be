/**
 * Failure reasons for local infrastructure. One-word PascalCase values, the same strings
 * `kiln up` prints and tests assert on (never branch on `err.message`).
 */
export const InfraErrorReason = {
  MissingDependency: "MissingDependency",
  PortInUse: "PortInUse",
  StartupFailed: "StartupFailed",
  KeepsFailing: "KeepsFailing",
} as const;
export type InfraErrorReason = (typeof InfraErrorReason)[keyof typeof InfraErrorReason];

/** Base class of every error thrown by `@kiln/infra`. */
export abstract class InfraError extends Error {
  abstract readonly reason: InfraErrorReason;
  /** Whether trying again unchanged can succeed (a port may free up; a missing binary will not appear). */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Returns the error when it is an `InfraError`, otherwise `null`. */
  static parse(err: unknown): InfraError | null {
    return err instanceof InfraError ? err : null;
  }
}

/** A program Kiln needs, and the Debian package that ships it. */
export type MissingDependency = {
  /** What is missing, e.g. `nats-server` or `postgres system user`. */
  readonly name: string;
  /** Debian/Ubuntu package to `apt-get install`. */
  readonly debianPackage: string;
};

/** One or more host programs are not installed. The message names all of them at once. */
export class MissingDependencyError extends InfraError {
  readonly reason = InfraErrorReason.MissingDependency;
  readonly retryable = false;
  readonly missing: readonly MissingDependency[];

  constructor(missing: readonly MissingDependency[], options?: ErrorOptions) {
    const names = missing.map((m) => m.name).join(", ");
    const packages = [...new Set(missing.map((m) => m.debianPackage))].join(" ");
    super(
      `missing ${names}: install with \`sudo apt-get install -y ${packages}\` (or run scripts/bootstrap)`,
      options,
    );
    this.missing = missing;
  }
}

/** A TCP port Kiln wants to listen on, with the flag that changes it. */
export type BusyPort = {
  readonly port: number;
  /** Which component wanted it, e.g. `nats`. */
  readonly what: string;
  /** How the user picks another one, e.g. `--nats-port`. */
  readonly hint?: string;
};

/** Ports are already taken by another process. The message names every busy port. */
export class PortInUseError extends InfraError {
  readonly reason = InfraErrorReason.PortInUse;
  // Another process may release the port; the caller decides whether to wait.
  readonly retryable = true;
  readonly busy: readonly BusyPort[];

  constructor(busy: readonly BusyPort[], options?: ErrorOptions) {
    super(busy.map(describeBusyPort).join("; "), options);
    this.busy = busy;
  }
}

function describeBusyPort(b: BusyPort): string {
  const hint = b.hint === undefined ? "" : ` (choose another with ${b.hint})`;
  return `port ${b.port} for ${b.what} is already in use${hint}`;
}

/** A server process exited or did not become ready in time. Carries the tail of its log. */
export class StartupFailedError extends InfraError {
  readonly reason = InfraErrorReason.StartupFailed;
  readonly retryable = false;
  /** Which server, e.g. `postgres`. */
  readonly service: string;
  /** Last lines of the server's log file ("" when there is none). */
  readonly logTail: string;

  constructor(
    service: string,
    problem: string,
    details: { logTail?: string; logFile?: string | undefined },
    options?: ErrorOptions,
  ) {
    const tail = details.logTail?.trim() ?? "";
    const where = details.logFile === undefined ? "" : ` (log: ${details.logFile})`;
    super(
      `${service} ${problem}${where}${tail === "" ? "" : `\n--- last log lines ---\n${tail}`}`,
      options,
    );
    this.service = service;
    this.logTail = tail;
  }
}

/**
 * A supervised process stopped again and again soon after each start, so its supervisor gave
 * up on it (and stopped the rest). Carries why: how it last ended and the tail of its log.
 */
export class ProcessKeepsFailingError extends InfraError {
  readonly reason = InfraErrorReason.KeepsFailing;
  // It failed the same way several times already; something must be fixed first.
  readonly retryable = false;
  /** Which process, e.g. `scheduler` or `postgres`. */
  readonly process: string;
  /** How it ended the last time: `code 1`, `signal SIGKILL`, or why its start failed. */
  readonly lastFailure: string;
  readonly logFile: string | undefined;
  /** Last lines of its log file ("" when there is none). */
  readonly logTail: string;

  constructor(
    process: string,
    details: {
      failures: number;
      withinMs: number;
      lastFailure: string;
      logFile?: string | undefined;
      logTail?: string;
    },
  ) {
    const tail = details.logTail?.trim() ?? "";
    const where = details.logFile === undefined ? "" : ` (log: ${details.logFile})`;
    super(
      `${process} keeps failing: it stopped ${details.failures} times in a row, each within ${details.withinMs / 1000}s of its start; the last time: ${details.lastFailure}${where}${tail === "" ? "" : `\n--- last log lines ---\n${tail}`}`,
    );
    this.process = process;
    this.lastFailure = details.lastFailure;
    this.logFile = details.logFile;
    this.logTail = tail;
  }
}
