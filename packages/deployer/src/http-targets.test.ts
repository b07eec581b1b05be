import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { displayUrl, signBody } from "./http-targets.js";

describe("HTTP target signatures", () => {
  test("sign the raw body with HMAC-SHA256, GitHub's sha256=<hex> format", () => {
    const body = '{"kind":"ImageChange"}';
    expect(signBody("s3cret-key-0123456", body)).toBe(
      `sha256=${createHmac("sha256", "s3cret-key-0123456").update(body).digest("hex")}`,
    );
  });

  test("show a URL without its user info or query, which may hold tokens", () => {
    expect(displayUrl("https://user:pw@hooks.example:8443/kiln?token=abc#x")).toBe(
      "https://hooks.example:8443/kiln",
    );
    expect(displayUrl("not a url")).toBe("[unparseable url]");
  });
});
