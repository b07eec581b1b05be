import { describe, expect, it } from "vitest";
import { imageReferenceByDigest } from "./build.js";

describe("imageReferenceByDigest", () => {
  it("replaces the tag with the digest, keeping a registry port", () => {
    expect(imageReferenceByDigest("127.0.0.1:15000/default/hello:latest", "sha256:ab")).toBe(
      "127.0.0.1:15000/default/hello@sha256:ab",
    );
  });
  it("handles an untagged name", () => {
    expect(imageReferenceByDigest("127.0.0.1:15000/hello", "sha256:ab")).toBe(
      "127.0.0.1:15000/hello@sha256:ab",
    );
  });
});
