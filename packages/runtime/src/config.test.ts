import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ConfigError,
  env,
  headersWithinRequest,
  loadConfig,
  metricsPortApart,
  parseDuration,
} from "./config.js";

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

describe("headersWithinRequest", () => {
  const schema = z
    .object({
      API_HEADERS_TIMEOUT_MS: env.timeoutMs(10_000),
      API_REQUEST_TIMEOUT_MS: env.timeoutMs(60_000),
    })
    .superRefine(headersWithinRequest("API"));

  it("takes a header deadline within the request's, and refuses one past it naming both", () => {
    expect(loadConfig(schema, { API_HEADERS_TIMEOUT_MS: "60000" })).toEqual({
      API_HEADERS_TIMEOUT_MS: 60_000,
      API_REQUEST_TIMEOUT_MS: 60_000,
    });
    expect(() => loadConfig(schema, { API_REQUEST_TIMEOUT_MS: "5000" })).toThrow(
      "API_HEADERS_TIMEOUT_MS: must not be longer than API_REQUEST_TIMEOUT_MS",
    );
    expect(() => loadConfig(schema, { API_HEADERS_TIMEOUT_MS: "0" })).toThrow(
      /API_HEADERS_TIMEOUT_MS/,
    );
  });
});

describe("metricsPortApart", () => {
  const schema = z
    .object({ API_PORT: env.port(18080), API_METRICS_PORT: env.port(18086) })
    .superRefine(metricsPortApart("API_PORT", "API_METRICS_PORT"));

  it("refuses /metrics on the port the world reaches, naming both", () => {
    expect(() => loadConfig(schema, { API_METRICS_PORT: "18080" })).toThrow(
      "API_METRICS_PORT: must not be API_PORT: /metrics stays off the port the world reaches",
    );
    expect(loadConfig(schema, { API_METRICS_PORT: "9100" })).toEqual({
      API_PORT: 18080,
      API_METRICS_PORT: 9100,
    });
    // 0 picks a free port for each: never the same one.
    expect(loadConfig(schema, { API_PORT: "0", API_METRICS_PORT: "0" })).toEqual({
      API_PORT: 0,
      API_METRICS_PORT: 0,
    });
  });
});
