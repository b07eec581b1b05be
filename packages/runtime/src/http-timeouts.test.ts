import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { fastifyTimeoutOptions, httpServerOptions, type HttpTimeouts } from "./http-timeouts.js";

const timeouts: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 900_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 72_000,
};

describe("HTTP timeouts", () => {
  it("give Fastify the idle, keep-alive and request timeouts, and Node the header one", () => {
    expect(fastifyTimeoutOptions(timeouts)).toEqual({
      connectionTimeout: 60_000,
      keepAliveTimeout: 72_000,
      requestTimeout: 900_000,
      http: {
        headersTimeout: 10_000,
        requestTimeout: 900_000,
        keepAliveTimeout: 72_000,
        connectionsCheckingInterval: 1_000,
      },
    });
  });

  it("look for expired requests often enough that a short deadline is kept", () => {
    const short = { ...timeouts, headersTimeoutMs: 600, requestTimeoutMs: 1_500 };
    expect(httpServerOptions(short).connectionsCheckingInterval).toBe(150);
    const tiny = { ...timeouts, headersTimeoutMs: 100, requestTimeoutMs: 100 };
    expect(httpServerOptions(tiny).connectionsCheckingInterval).toBe(50);
  });

  it("are options a node:http server takes as they are", () => {
    const server = createServer(httpServerOptions(timeouts));
    expect(server.headersTimeout).toBe(10_000);
    expect(server.requestTimeout).toBe(900_000);
    expect(server.keepAliveTimeout).toBe(72_000);
    server.close();
  });
});
