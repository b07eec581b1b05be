import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { parseResourceArgs } from "./resource-types.js";

describe("parseResourceArgs", () => {
  it.each([
    ["bc", "buildconfigs"],
    ["BuildConfig", "buildconfigs"],
    ["builds", "builds"],
    ["build", "builds"],
    ["is", "imagestreams"],
    ["imagestreams", "imagestreams"],
  ])("maps %s to %s", (word, type) => {
    expect(parseResourceArgs(word, "x").type).toBe(type);
  });

  it("accepts kubectl's TYPE/NAME form", () => {
    expect(parseResourceArgs("bc/hello", undefined)).toEqual({
      type: "buildconfigs",
      name: "hello",
    });
  });

  it("refuses a type a command does not support", () => {
    expect(() => parseResourceArgs("builds", "x", ["buildconfigs", "imagestreams"])).toThrow(
      UsageError,
    );
  });
});
