import { describe, expect, it } from "vitest";
import { CoalescedPasses, forEachConcurrently } from "./coalesced-passes.js";

describe("CoalescedPasses", () => {
  it("runs one pass at a time, and requests made during a pass share the next one with their inputs merged", async () => {
    const passes: string[][] = [];
    let release: () => void = () => undefined;
    let running = 0;
    let maxRunning = 0;
    const coalesced = new CoalescedPasses<string[]>(
      async (input) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        passes.push(input);
        if (passes.length === 1) await new Promise<void>((r) => (release = r));
        running -= 1;
      },
      (into, more) => [...into, ...more],
    );
    const first = coalesced.request(["a"]);
    await new Promise((r) => setImmediate(r));
    const second = coalesced.request(["b"]);
    const third = coalesced.request(["c"]);
    expect(passes).toEqual([["a"]]);
    release();
    await Promise.all([first, second, third]);
    expect(passes).toEqual([["a"], ["b", "c"]]);
    expect(maxRunning).toBe(1);
  });

  it("a failed pass rejects only its own requests, and the next pass still runs", async () => {
    let calls = 0;
    const coalesced = new CoalescedPasses<number>(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error("database unreachable");
      },
      (a, b) => a + b,
    );
    await expect(coalesced.request(1)).rejects.toThrow("database unreachable");
    await expect(coalesced.request(2)).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});

describe("forEachConcurrently", () => {
  it("keeps at most `limit` running and visits every item once", async () => {
    let running = 0;
    let max = 0;
    const seen: number[] = [];
    await forEachConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running += 1;
      max = Math.max(max, running);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(n);
      running -= 1;
    });
    expect(max).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("finishes the others and then reports the first failure", async () => {
    const seen: number[] = [];
    await expect(
      forEachConcurrently([1, 2, 3], 2, async (n) => {
        if (n === 1) throw new Error("one failed");
        seen.push(n);
      }),
    ).rejects.toThrow("one failed");
    expect(seen.sort()).toEqual([2, 3]);
  });
});
