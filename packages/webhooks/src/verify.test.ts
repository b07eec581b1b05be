import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { requestProvesSecret } from "./signature.js";
import { constantTimeEqual, hmacSha256Hex, signatureMatches } from "./verify.js";

const body = Buffer.from('{"ref":"refs/heads/main"}');
const secret = "It's a Secret to Everybody";

describe("signatures", () => {
  it("computes GitHub's documented example signature", () => {
    // docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
    expect(hmacSha256Hex(secret, Buffer.from("Hello, World!"))).toBe(
      "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
  });
  it("accepts the right sha256= signature and refuses a wrong one, another secret, a bare one and none", () => {
    const good = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    expect(signatureMatches(good, secret, body, "prefixed")).toBe(true);
    expect(
      signatureMatches(good.toUpperCase().replace("SHA256=", "sha256="), secret, body, "prefixed"),
    ).toBe(true);
    expect(signatureMatches(good, "other", body, "prefixed")).toBe(false);
    expect(signatureMatches(good.slice(7), secret, body, "prefixed")).toBe(false);
    expect(signatureMatches(`sha1=${good.slice(7)}`, secret, body, "prefixed")).toBe(false);
    expect(signatureMatches(undefined, secret, body, "prefixed")).toBe(false);
    expect(signatureMatches(good, secret, Buffer.from(`${body} `), "prefixed")).toBe(false);
    // Not 64 hex digits: refused, never read as a shorter or partial digest.
    expect(signatureMatches(`${good}0`, secret, body, "prefixed")).toBe(false);
    expect(signatureMatches(good.slice(0, -2), secret, body, "prefixed")).toBe(false);
    expect(signatureMatches(`${good.slice(0, -1)}g`, secret, body, "prefixed")).toBe(false);
    expect(signatureMatches("sha256=", secret, body, "prefixed")).toBe(false);
  });
  it("checks each provider's header the provider's way", () => {
    const hex = hmacSha256Hex(secret, body);
    expect(
      requestProvesSecret("github", { "x-hub-signature-256": `sha256=${hex}` }, body, secret),
    ).toBe(true);
    expect(
      requestProvesSecret("github", { "x-hub-signature": `sha256=${hex}` }, body, secret),
    ).toBe(false);
    expect(requestProvesSecret("gitea", { "x-gitea-signature": hex }, body, secret)).toBe(true);
    expect(requestProvesSecret("gitea", { "x-gogs-signature": hex }, body, secret)).toBe(true);
    expect(
      requestProvesSecret("gitea", { "x-gitea-signature": `sha256=${hex}` }, body, secret),
    ).toBe(false);
    expect(
      requestProvesSecret("bitbucket", { "x-hub-signature": `sha256=${hex}` }, body, secret),
    ).toBe(true);
    expect(requestProvesSecret("gitlab", { "x-gitlab-token": secret }, body, secret)).toBe(true);
    expect(requestProvesSecret("gitlab", { "x-gitlab-token": `${secret}x` }, body, secret)).toBe(
      false,
    );
    expect(requestProvesSecret("gitlab", {}, body, secret)).toBe(false);
    expect(
      requestProvesSecret("generic", { authorization: `Bearer ${secret}` }, body, secret),
    ).toBe(true);
    expect(
      requestProvesSecret("generic", { "x-hub-signature-256": `sha256=${hex}` }, body, secret),
    ).toBe(true);
    expect(requestProvesSecret("generic", {}, body, secret)).toBe(false);
  });
  it("compares strings of any lengths without throwing", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
  });
});
