import { describe, expect, it } from "vitest";
import { buildIdMapSize, freeSubordinateRange, subordinateRangesOf } from "./subordinate-ids.js";

const subuid = [
  "alice:100000:65536",
  "",
  "# a comment",
  "999:1000000000:65536",
  "bob:165536:65536",
  "broken:x:y",
].join("\n");

describe("subordinate ids", () => {
  it("finds a user's ranges by name or by uid", () => {
    expect(subordinateRangesOf(subuid, { name: "alice", uid: 1000 })).toEqual([
      { first: 100000, count: 65536 },
    ]);
    expect(subordinateRangesOf(subuid, { name: "kiln-build", uid: 999 })).toEqual([
      { first: 1000000000, count: 65536 },
    ]);
    expect(subordinateRangesOf(subuid, { name: "carol", uid: 1002 })).toEqual([]);
    expect(subordinateRangesOf(subuid, { name: "broken", uid: 5 })).toEqual([]);
  });

  it("suggests a free range above every range of both files", () => {
    expect(freeSubordinateRange(subuid, "dave:2000000000:10")).toEqual({
      first: 2000027648,
      count: 65536,
    });
    expect(freeSubordinateRange("", "")).toEqual({ first: 131072, count: 65536 });
  });

  it("maps at most 65536 ids, and no more than both ranges hold", () => {
    expect(buildIdMapSize([{ first: 1, count: 200000 }], [{ first: 1, count: 70000 }])).toBe(65536);
    expect(buildIdMapSize([{ first: 1, count: 1000 }], [{ first: 1, count: 70000 }])).toBe(1000);
    expect(buildIdMapSize([], [{ first: 1, count: 70000 }])).toBe(0);
  });
});
