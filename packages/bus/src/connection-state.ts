/**
 * What a bus knows of its NATS connection, from nats.js's status events: connected, lost since
 * when (nats.js reconnects for ever meanwhile: `maxReconnectAttempts: -1`), or closed. Pure, so
 * the wording of the health checks is tested without a server.
 */
export class ConnectionState {
  private lostAt: number | null = null;
  private closedBecause: string | null = null;

  constructor(
    /** The server(s) it connects to, as configured: named in what it says. */
    private readonly servers: string,
  ) {}

  /** Open and not reconnecting: a publish can reach the server now. */
  get connected(): boolean {
    return this.lostAt === null && this.closedBecause === null;
  }

  /** The connection dropped; nats.js is reconnecting. */
  lost(at: number): void {
    this.lostAt ??= at;
  }

  /** Connected again; returns for how long it was lost (ms), or 0 if it was not. */
  regained(at: number): number {
    const downMs = this.lostAt === null ? 0 : at - this.lostAt;
    this.lostAt = null;
    return downMs;
  }

  /**
   * Closed: by `drain()` (then `error` is undefined and `byUs` true), or by nats.js giving up
   * (an error the client does not retry, such as a refused login on reconnect).
   */
  closed(error: Error | undefined, byUs: boolean): void {
    this.closedBecause = byUs ? "closed" : `closed: ${error?.message ?? "by the server"}`;
  }

  /** Why a publish or a pull cannot work now, or null. */
  readiness(now: number): string | null {
    if (this.closedBecause !== null) return this.closedBecause;
    if (this.lostAt === null) return null;
    const seconds = Math.round((now - this.lostAt) / 1000);
    return `disconnected from ${this.servers} for ${seconds} s, reconnecting`;
  }

  /** Why the connection will never work again (closed, and not by us), or null. */
  liveness(): string | null {
    return this.closedBecause !== null && this.closedBecause !== "closed"
      ? this.closedBecause
      : null;
  }
}
