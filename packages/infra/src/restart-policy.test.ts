import { describe, expect, test } from "vitest";
import { RestartPolicy } from "./restart-policy.js";

describe("RestartPolicy", () => {
  test("restarts a process that ran for a while after the shortest wait, however often", () => {
    const policy = new RestartPolicy();
    for (let i = 0; i < 20; i++)
      expect(policy.afterExit(60_000)).toEqual({ action: "restart", delayMs: 500, fastExits: 0 });
  });

  test("backs off after each fast failure and gives up at the fifth in a row", () => {
    const policy = new RestartPolicy();
    expect([1, 2, 3, 4].map(() => policy.afterExit(2_000))).toEqual([
      { action: "restart", delayMs: 500, fastExits: 1 },
      { action: "restart", delayMs: 1_000, fastExits: 2 },
      { action: "restart", delayMs: 2_000, fastExits: 3 },
      { action: "restart", delayMs: 4_000, fastExits: 4 },
    ]);
    expect(policy.afterExit(9_999)).toEqual({ action: "give-up", fastExits: 5 });
  });

  test("counts a start that failed as a fast failure", () => {
    const policy = new RestartPolicy({ maxFastExits: 2 });
    expect(policy.afterExit(null)).toMatchObject({ action: "restart", fastExits: 1 });
    expect(policy.afterExit(null)).toEqual({ action: "give-up", fastExits: 2 });
  });

  test("a run of at least fastExitMs ends the streak of fast failures", () => {
    const policy = new RestartPolicy({ fastExitMs: 1_000, maxFastExits: 3 });
    policy.afterExit(10);
    policy.afterExit(10);
    expect(policy.afterExit(1_000)).toMatchObject({ action: "restart", fastExits: 0 });
    expect(policy.afterExit(10)).toEqual({ action: "restart", delayMs: 500, fastExits: 1 });
    expect(policy.afterExit(10)).toMatchObject({ action: "restart", fastExits: 2 });
    expect(policy.afterExit(10)).toEqual({ action: "give-up", fastExits: 3 });
  });

  test("never waits longer than the backoff's cap", () => {
    const policy = new RestartPolicy({ maxFastExits: 100, backoff: { baseMs: 500, maxMs: 3_000 } });
    const delays = Array.from({ length: 8 }, () => policy.afterExit(0)).map((d) =>
      d.action === "restart" ? d.delayMs : -1,
    );
    expect(delays).toEqual([500, 1_000, 2_000, 3_000, 3_000, 3_000, 3_000, 3_000]);
  });
});
