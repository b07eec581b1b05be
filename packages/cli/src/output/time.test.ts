import { describe, expect, it } from "vitest";
import { formatDuration, relativeTime } from "./time.js";

const now = new Date("2025-01-01T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

describe("relativeTime", () => {
  it.each([
    [5_000, "5 seconds ago"],
    [1_000, "1 second ago"],
    [60_000, "1 minute ago"],
    [125_000, "2 minutes ago"],
    [3 * 3600_000, "3 hours ago"],
    [24 * 3600_000, "1 day ago"],
    [45 * 24 * 3600_000, "1 month ago"],
    [800 * 24 * 3600_000, "2 years ago"],
  ])("says %i ms ago is %s", (ms, expected) => {
    expect(relativeTime(ago(ms), now)).toBe(expected);
  });

  it("says just now for timestamps in the future from clock skew", () => {
    expect(relativeTime(ago(-3000), now)).toBe("just now");
  });

  it("prints nothing for a missing or unparsable timestamp", () => {
    expect(relativeTime(undefined, now)).toBe("");
    expect(relativeTime(null, now)).toBe("");
    expect(relativeTime("not a date", now)).toBe("");
  });
});

describe("formatDuration", () => {
  it.each([
    [850, "850ms"],
    [42_000, "42s"],
    [83_000, "1m23s"],
    [7_500_000, "2h5m"],
  ])("formats %i ms as %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });

  it("prints nothing when there is no duration", () => {
    expect(formatDuration(undefined)).toBe("");
    expect(formatDuration(-1)).toBe("");
  });
});
