import { describe, expect, it } from "vitest";
import { HealthChecks, healthStatusCode, messageOf, ServiceHealth } from "./health.js";

describe("HealthChecks", () => {
  it("is ok when every check passes, naming each", async () => {
    const checks = new HealthChecks(
      { nats: () => null, postgres: async () => null },
      { failing: "unready" },
    );
    const report = await checks.report();
    expect(report).toEqual({ status: "ok", checks: { nats: "ok", postgres: "ok" } });
    expect(healthStatusCode(report)).toBe(200);
    expect(await checks.problem()).toBeNull();
  });

  it("says what is wrong with each failing check, and 503", async () => {
    const checks = new HealthChecks(
      {
        nats: () => "disconnected for 3 s",
        postgres: async () => "unreachable: connect ECONNREFUSED 127.0.0.1:5432",
        engine: () => null,
      },
      { failing: "unready" },
    );
    const report = await checks.report();
    expect(report).toEqual({
      status: "unready",
      checks: {
        nats: "disconnected for 3 s",
        postgres: "unreachable: connect ECONNREFUSED 127.0.0.1:5432",
        engine: "ok",
      },
    });
    expect(healthStatusCode(report)).toBe(503);
    expect(await checks.problem()).toBe(
      "nats: disconnected for 3 s; postgres: unreachable: connect ECONNREFUSED 127.0.0.1:5432",
    );
  });

  it("fails a check that throws or does not answer in time, without waiting for it", async () => {
    const checks = new HealthChecks(
      {
        thrown: () => {
          throw new Error("boom\n    at somewhere");
        },
        rejected: () => Promise.reject(new Error("refused")),
        hung: () => new Promise<null>(() => undefined),
      },
      { failing: "unready", timeoutMs: 50 },
    );
    const started = Date.now();
    expect((await checks.report()).checks).toEqual({
      thrown: "check failed: boom",
      rejected: "check failed: refused",
      hung: "no answer within 50 ms",
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("reuses a report for cacheMs, then asks again", async () => {
    let calls = 0;
    const checks = new HealthChecks(
      { counted: () => (calls++, null) },
      { failing: "unready", cacheMs: 1000 },
    );
    await checks.report(10_000);
    await checks.report(10_500);
    expect(calls).toBe(1);
    await checks.report(11_000);
    expect(calls).toBe(2);
  });
});

describe("ServiceHealth", () => {
  it("has the event loop among its liveness checks, and fails liveness as unhealthy", async () => {
    const health = new ServiceHealth({
      live: { nats: () => "closed: authorization violation" },
      ready: { nats: () => null },
    });
    expect(await health.live.report()).toEqual({
      status: "unhealthy",
      checks: { eventLoop: "ok", nats: "closed: authorization violation" },
    });
    expect(await health.ready.report()).toEqual({ status: "ok", checks: { nats: "ok" } });
  });
});

describe("messageOf", () => {
  it("is the first line of the message, else the error's code or name", () => {
    expect(messageOf(new Error("first\nsecond"))).toBe("first");
    expect(messageOf(Object.assign(new AggregateError([], ""), { code: "ECONNREFUSED" }))).toBe(
      "ECONNREFUSED",
    );
    expect(messageOf("plain")).toBe("plain");
  });
});
