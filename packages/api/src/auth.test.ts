import { describe, expect, it } from "vitest";
import { generateToken, sha256Hex, tokenMatches } from "./auth.js";

describe("tokenMatches", () => {
  it("accepts the bearer token and nothing else", () => {
    expect(tokenMatches("Bearer s3cret", "s3cret")).toBe(true);
    expect(tokenMatches("Bearer s3cre", "s3cret")).toBe(false);
    expect(tokenMatches("s3cret", "s3cret")).toBe(false);
    expect(tokenMatches(undefined, "s3cret")).toBe(false);
  });
});

describe("generateToken", () => {
  it("makes a different 256-bit token each time, stored as a hash that does not contain it", () => {
    const a = generateToken();
    expect(a).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
    expect(sha256Hex(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256Hex(a)).not.toContain(a.slice(5));
  });
});
