import { describe, expect, it } from "vitest";
import { tokenMatches } from "./auth.js";

describe("tokenMatches", () => {
  it("accepts the bearer token and nothing else", () => {
    expect(tokenMatches("Bearer s3cret", "s3cret")).toBe(true);
    expect(tokenMatches("Bearer s3cre", "s3cret")).toBe(false);
    expect(tokenMatches("s3cret", "s3cret")).toBe(false);
    expect(tokenMatches(undefined, "s3cret")).toBe(false);
  });
});
