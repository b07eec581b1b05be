import { KilnError } from "@kiln/domain";

/**
 * PostgreSQL refused to log in (SQLSTATE class 28: a wrong password, an unknown role, no
 * pg_hba.conf entry). Not retryable: the same credentials get the same answer, so a service
 * stops at start instead of failing every message. The message names the server, the database
 * and PostgreSQL's own words (which name the user), never the password.
 */
export class DatabaseLoginRefusedError extends KilnError {
  readonly reason = "DatabaseLoginRefused";
  readonly retryable = false;

  constructor(
    /** `host:port/database` of the URL, without user or password. */
    readonly address: string,
    /** PostgreSQL's SQLSTATE, e.g. `28P01` (invalid_password). */
    readonly sqlState: string,
    serverMessage: string,
    options?: { cause?: unknown },
  ) {
    super(`PostgreSQL at ${address} refused the login: ${serverMessage}`, options);
  }

  /** The refusal `err` (thrown connecting to `url`) is, or `null` when it is something else. */
  static parse(err: unknown, url: string): DatabaseLoginRefusedError | null {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== "string" || !code.startsWith("28") || !(err instanceof Error)) return null;
    return new DatabaseLoginRefusedError(addressOf(url), code, err.message, { cause: err });
  }
}

function addressOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return "DATABASE_URL";
  }
}
