import { describe, expect, it } from "vitest";
import { backoffMs } from "./backoff.js";

describe("backoffMs", () => {
  it("doubles from the base with each retry, up to the cap", () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, { baseMs: 500, maxMs: 30_000 }));
    expect(waits).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it("waits the base for a first delivery counted as 0 or 1", () => {
    expect(backoffMs(0, { baseMs: 500 })).toBe(500);
    expect(backoffMs(1, { baseMs: 500 })).toBe(500);
  });

  it("has no cap unless given one", () => {
    expect(backoffMs(5, { baseMs: 500 })).toBe(8_000);
  });
});
