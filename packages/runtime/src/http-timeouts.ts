import type { Server, ServerOptions } from "node:http";

/**
 * How long one of Kiln's HTTP servers waits on a client. Every server sets all four, so a client
 * that sends half a request (a slowloris) or stops reading holds a connection for a bounded
 * time, while a fast client never notices them. Node's defaults leave the body and an idle
 * connection unbounded (Fastify's `requestTimeout` and `connectionTimeout` are 0).
 */
export interface HttpTimeouts {
  /** The request line and headers must have arrived within this (Node's `headersTimeout`); then 408 and closed. */
  headersTimeoutMs: number;
  /**
   * The whole request, body included, must have arrived within this (Node's `requestTimeout`);
   * then 408 and closed. A response that streams for long (a followed log) is not bounded by it:
   * it counts only until the request is read.
   */
  requestTimeoutMs: number;
  /** A connection that moves no byte either way for this long, mid-request, is closed (the socket timeout, Fastify's `connectionTimeout`). */
  idleTimeoutMs: number;
  /** A kept-alive connection waiting for its next request is closed after this (Node's `keepAliveTimeout`). */
  keepAliveTimeoutMs: number;
}

/**
 * How often Node looks for requests past their header or request deadline. Its default, 30 s,
 * would let a 10 s header deadline run to 40 s; a quarter of the shorter deadline, 50 ms to 1 s,
 * keeps the overshoot small and the cost (one pass over the open connections) negligible.
 */
function checkingIntervalMs(t: HttpTimeouts): number {
  return Math.max(
    50,
    Math.min(1000, Math.floor(Math.min(t.headersTimeoutMs, t.requestTimeoutMs) / 4)),
  );
}

/** The `node:http` server options for `t` (what `createServer` and Fastify's `http` take). */
export function httpServerOptions(t: HttpTimeouts): ServerOptions {
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(t),
  };
}

/** Fastify's server options for `t`: spread them into `Fastify({ ... })`. */
export function fastifyTimeoutOptions(t: HttpTimeouts) {
  return {
    // Fastify sets these three on the server it makes, over what `http` says.
    connectionTimeout: t.idleTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    http: httpServerOptions(t),
  };
}

/** Sets the idle timeout on a `node:http` server made with {@link httpServerOptions}. */
export function applyIdleTimeout(server: Server, t: HttpTimeouts): void {
  server.setTimeout(t.idleTimeoutMs);
}

/**
 * The timeouts of the health servers: a probe sends a bodiless GET at once and reads a small
 * answer, so anything slower than a few seconds is not a probe.
 */
export const healthServerTimeouts: HttpTimeouts = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
};
