import { describe, expect, it } from "vitest";
import { overrideLastFrom } from "./dockerfile.js";

describe("overrideLastFrom", () => {
  it("replaces the image of the last stage, keeping its alias and flags", () => {
    const dockerfile = "FROM golang AS build\nRUN make\nFROM --platform=linux/amd64 alpine:3 AS run\nCOPY --from=build /app /app\n";
    expect(overrideLastFrom(dockerfile, "registry.test/base@sha256:ab")).toBe(
      "FROM golang AS build\nRUN make\nFROM --platform=linux/amd64 registry.test/base@sha256:ab AS run\nCOPY --from=build /app /app\n",
    );
  });
  it("leaves a Dockerfile without FROM alone", () => {
    expect(overrideLastFrom("RUN true", "x")).toBe("RUN true");
  });
});
