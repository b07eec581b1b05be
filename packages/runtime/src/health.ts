/**
 * What a service says of its own health, as two sets of named checks:
 * - liveness (`/healthz`): the process works. It is answered from the event loop, so an answer
 *   at all says the loop runs; a check fails only for what the process cannot get over by
 *   itself (a NATS connection closed for good), where a restart is the cure.
 * - readiness (`/readyz`): it can do its job now (NATS connected, PostgreSQL answering, the
 *   build engine usable). A failing check passes again by itself once the dependency is back:
 *   the process is kept, and only taken out of rotation meanwhile.
 */

/** One check: null when it passes, else what is wrong in a few words ("unreachable: connect ECONNREFUSED 127.0.0.1:5432"). */
export type HealthCheck = () => string | null | Promise<string | null>;

/** The JSON body of `/healthz` and `/readyz`. */
export interface HealthReport {
  /** `ok` when every check passes; `unready` (readiness) or `unhealthy` (liveness) when one fails. */
  status: "ok" | "unready" | "unhealthy";
  /** Every check by name: `ok`, or what is wrong. */
  checks: Record<string, string>;
}

export interface HealthChecksOptions {
  /** The status of a report with a failing check. */
  failing: "unready" | "unhealthy";
  /** A check that has not answered within this fails, saying so. @default 2000 */
  timeoutMs?: number;
  /**
   * A report is reused for this long: the error handler of a server that fails a burst of
   * requests while PostgreSQL is down asks once, not once per request. @default 1000
   */
  cacheMs?: number;
}

/** A set of named checks, run together, each bounded by the timeout. */
export class HealthChecks {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private last: { at: number; report: Promise<HealthReport> } | null = null;

  constructor(
    private readonly checks: Readonly<Record<string, HealthCheck>>,
    private readonly options: HealthChecksOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.cacheMs = options.cacheMs ?? 1000;
  }

  /** Runs every check (or reuses a report younger than `cacheMs`). Never rejects. */
  report(now = Date.now()): Promise<HealthReport> {
    if (this.last && now - this.last.at < this.cacheMs) return this.last.report;
    const report = this.run();
    this.last = { at: now, report };
    return report;
  }

  /** The failing checks in one line (`postgres: unreachable: …; nats: …`), or null when all pass. */
  async problem(): Promise<string | null> {
    const { checks } = await this.report();
    const failing = Object.entries(checks).filter(([, result]) => result !== "ok");
    return failing.length === 0
      ? null
      : failing.map(([name, result]) => `${name}: ${result}`).join("; ");
  }

  private async run(): Promise<HealthReport> {
    const names = Object.keys(this.checks);
    const results = await Promise.all(names.map((name) => this.runOne(this.checks[name]!)));
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i] ?? "ok"]));
    return {
      status: results.every((r) => r === null) ? "ok" : this.options.failing,
      checks,
    };
  }

  private async runOne(check: HealthCheck): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${this.timeoutMs} ms`), this.timeoutMs);
    });
    try {
      return await Promise.race([
        Promise.resolve()
          .then(check)
          .catch((error: unknown) => `check failed: ${messageOf(error)}`),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A service's liveness and readiness checks, shared by its health endpoints and its error answers. */
export class ServiceHealth {
  readonly live: HealthChecks;
  readonly ready: HealthChecks;

  constructor(checks: {
    /** Liveness beyond the event loop (always `ok` when there is an answer at all). */
    live?: Readonly<Record<string, HealthCheck>>;
    ready: Readonly<Record<string, HealthCheck>>;
    /** How long a readiness report is reused (see HealthChecksOptions). @default 1000 */
    readyCacheMs?: number;
  }) {
    this.live = new HealthChecks(
      { eventLoop: () => null, ...checks.live },
      // A liveness answer is not reused: it is what tells a supervisor the loop still turns.
      { failing: "unhealthy", cacheMs: 0 },
    );
    this.ready = new HealthChecks(checks.ready, {
      failing: "unready",
      ...(checks.readyCacheMs === undefined ? {} : { cacheMs: checks.readyCacheMs }),
    });
  }
}

/** The HTTP status of a report: 200 when ok, else 503. */
export function healthStatusCode(report: HealthReport): 200 | 503 {
  return report.status === "ok" ? 200 : 503;
}

/**
 * The `Retry-After` (seconds) of a 503 that a dependency being down caused. Short: PostgreSQL
 * and NATS restart in seconds, and a sender that waits longer than it must delays its build.
 */
export const unavailableRetryAfterSeconds = 5;

/** An error's message for a check result: one line, no stack. */
export function messageOf(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  // Node's connect errors to a name with two addresses are an AggregateError without a message.
  const code = (error as { code?: unknown } | null)?.code;
  return (
    message.slice(0, 300) ||
    (typeof code === "string" ? code : "") ||
    (error instanceof Error ? error.name : "unknown error")
  );
}
