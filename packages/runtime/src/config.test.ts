import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, env, loadConfig, parseDuration } from "./config.js";

describe("parseDuration", () => {
  it.each([
    ["7d", 7 * 86_400_000],
    ["24h", 86_400_000],
    ["90m", 5_400_000],
    ["30s", 30_000],
    ["1d12h", 36 * 3_600_000],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "7", "7days", "1.5h", "-1h", "h", "7d ", "1w"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe("env.duration", () => {
  const schema = z.object({ RETENTION: env.duration("7d") });

  it("defaults to its fallback, in milliseconds", () => {
    expect(loadConfig(schema, {})).toEqual({ RETENTION: 7 * 86_400_000 });
  });

  it("names the variable and the value it could not read", () => {
    expect(() => loadConfig(schema, { RETENTION: "7days" })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { RETENTION: "7days" })).toThrow(
      /RETENTION: must be a duration such as 7d, 24h, 90m or 1d12h \(units d, h, m, s\), not "7days"/,
    );
  });
});
