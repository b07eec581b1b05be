import { describe, expect, test } from "vitest";
import { SecretBox, SecretKeyError } from "./secret-box.js";

describe("SecretBox", () => {
  const box = SecretBox.fromKey(SecretBox.generateKey());

  test("seals to a value that shows nothing of the secret and opens again", () => {
    const sealed = box.seal("webhook-secret-123");
    expect(sealed).toMatch(/^kiln-sealed:v1:/);
    expect(sealed).not.toContain("webhook-secret-123");
    expect(Buffer.from(sealed.slice(15), "base64url").toString("latin1")).not.toContain("secret");
    expect(box.open(sealed)).toBe("webhook-secret-123");
    expect(box.seal("same")).not.toBe(box.seal("same"));
  });

  test("refuses a value sealed with another key, and a changed one", () => {
    const other = SecretBox.fromKey(SecretBox.generateKey());
    expect(() => other.open(box.seal("x"))).toThrow(SecretKeyError);
    const sealed = box.seal("abc");
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === "A" ? "B" : "A") + sealed.at(-1);
    expect(() => box.open(flipped)).toThrow(/sealed with another key/);
  });

  test("passes an unsealed value from before through, to be resealed", () => {
    expect(box.open("plain-from-before")).toBe("plain-from-before");
  });

  test("a key that is not 32 bytes of base64 is refused by name", () => {
    expect(() => SecretBox.fromKey("short")).toThrow(/32 bytes in base64/);
    expect(() => SecretBox.fromKey(Buffer.alloc(32).toString("base64"))).toThrow(/placeholder/);
  });
});
