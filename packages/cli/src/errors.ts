/**
 * Errors the CLI raises on purpose. Each has a one-word `reason`; `main` prints `error: message`
 * (plus any detail lines) and exits with `exitCode`, so no command calls `process.exit` itself.
 */

/** A problem with one field, as the API reports it in `details`. */
export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

export abstract class CliError extends Error {
  abstract readonly reason: string;
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  /** Extra lines printed under `error: message`. */
  detailLines(): string[] {
    return [];
  }
}

/** The API answered with an error body (`{"error","message","details"}`) or a non-2xx status. */
export class ApiError extends CliError {
  readonly reason: string;
  constructor(
    readonly status: number,
    reason: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
  ) {
    super(message);
    this.reason = reason;
  }

  override detailLines(): string[] {
    return this.details.map((d) => `${d.path}: ${d.message}`);
  }

  /** Returns the ApiError inside `err`, or null: callers branch on `reason`, never on text. */
  static parse(err: unknown): ApiError | null {
    return err instanceof ApiError ? err : null;
  }
}

/** No TCP connection to the API (refused, unknown host, timed out). */
export class ApiUnreachableError extends CliError {
  readonly reason = "Unreachable";
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the Kiln API at ${url}: is \`kiln up\` running?`, options);
  }
}

/** The API accepted the connection but did not answer in time. */
export class ApiTimeoutError extends CliError {
  readonly reason = "Timeout";
  constructor(url: string, timeoutMs: number) {
    super(`the Kiln API at ${url} did not answer within ${Math.round(timeoutMs / 1000)}s`);
  }
}

/** `.kiln/env` or an environment variable is malformed. */
export class ConfigError extends CliError {
  readonly reason = "InvalidConfig";
}

/** A manifest file could not be read or parsed; nothing was sent. */
export class ManifestError extends CliError {
  readonly reason = "InvalidManifest";
  constructor(
    readonly file: string,
    readonly line: number | null,
    message: string,
  ) {
    super(line === null ? `${file}: ${message}` : `${file}:${line}: ${message}`);
  }
}

/** Bad arguments that commander cannot check by itself (unknown resource type, bad K=V). */
export class UsageError extends CliError {
  readonly reason = "Usage";
}

/** A build the user waited for ended in a phase other than Complete. */
export class BuildEndedError extends CliError {
  readonly reason = "BuildFailed";
  constructor(
    readonly buildName: string,
    readonly phase: string,
    readonly buildReason: string | undefined,
    readonly buildMessage: string | undefined,
  ) {
    super(
      `build ${buildName} ended ${phase}${buildReason ? ` (${buildReason})` : ""}${buildMessage ? `: ${buildMessage}` : ""}`,
    );
  }
}

/** `kiln status`: no `kiln up` runs under the state dir. Exit 3, as `systemctl status` says "not running". */
export class NotRunningError extends CliError {
  readonly reason = "NotRunning";
  override readonly exitCode = 3;
}

/**
 * A stream the API had started (`GET …/events`) broke off: the connection was cut, or it went
 * quiet past its keep-alives. A watcher reconnects; nothing else raises it.
 */
export class StreamInterruptedError extends CliError {
  readonly reason = "StreamInterrupted";
}
