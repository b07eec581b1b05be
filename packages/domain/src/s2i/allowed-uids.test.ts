import { describe, expect, it } from "vitest";
import {
  formatUidRanges,
  isUserAllowed,
  maxUid,
  parseUidRanges,
  UidRangeError,
} from "./allowed-uids.js";

describe("parseUidRanges", () => {
  it("reads a-b, a-, -b and single uids", () => {
    expect(parseUidRanges("1-4294967294")).toEqual([{ from: 1, to: maxUid }]);
    expect(parseUidRanges("1000-, -10, 42")).toEqual([
      { from: 1000, to: maxUid },
      { from: 0, to: 10 },
      { from: 42, to: 42 },
    ]);
    expect(parseUidRanges("")).toEqual([]);
  });
  it("refuses words, reversed ranges and uids beyond the largest", () => {
    for (const bad of ["root", "5-1", "1-4294967295", "1-2-3"])
      expect(() => parseUidRanges(bad)).toThrow(UidRangeError);
  });
  it("formats ranges back", () => {
    expect(formatUidRanges(parseUidRanges("1-100,7"))).toBe("1-100,7");
  });
});

describe("isUserAllowed", () => {
  const nonRoot = parseUidRanges("1-4294967294");
  it("allows a numeric uid in range, with or without a numeric group", () => {
    expect(isUserAllowed("1001", nonRoot)).toBe(true);
    expect(isUserAllowed("1001:0", nonRoot)).toBe(true);
  });
  it("refuses uid 0, root, names and named groups", () => {
    for (const user of ["0", "0:0", "root", "", "app", "1001:app"])
      expect(isUserAllowed(user, nonRoot)).toBe(false);
  });
  it("allows everyone when the rule is empty, as s2i without --allowed-uids", () => {
    expect(isUserAllowed("root", [])).toBe(true);
  });
});
