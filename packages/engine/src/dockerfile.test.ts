import { describe, expect, it } from "vitest";
import { dockerfileImages, insertEnvAfterFrom, overrideLastFrom } from "./dockerfile.js";

describe("overrideLastFrom", () => {
  it("replaces the image of the last stage, keeping its alias and flags", () => {
    const dockerfile =
      "FROM golang AS build\nRUN make\nFROM --platform=linux/amd64 alpine:3 AS run\nCOPY --from=build /app /app\n";
    expect(overrideLastFrom(dockerfile, "registry.test/base@sha256:ab")).toBe(
      "FROM golang AS build\nRUN make\nFROM --platform=linux/amd64 registry.test/base@sha256:ab AS run\nCOPY --from=build /app /app\n",
    );
  });
  it("leaves a Dockerfile without FROM alone", () => {
    expect(overrideLastFrom("RUN true", "x")).toBe("RUN true");
  });
});

describe("dockerfileImages", () => {
  it("names every image a Dockerfile pulls: FROMs that are not earlier stages, COPY --from images", () => {
    const dockerfile = [
      "ARG GO=1.22",
      "FROM --platform=linux/amd64 golang:1.22 AS build",
      "RUN go build ./...",
      "FROM build AS test",
      "COPY --from=registry.example.com/tools/lint:v3 /lint /usr/bin/lint",
      "FROM scratch",
      "COPY --from=build /out/app /app",
      "COPY --from=0 /etc/ssl /etc/ssl",
      "from gcr.io/distroless/static",
    ].join("\n");
    expect(dockerfileImages(dockerfile)).toEqual([
      "golang:1.22",
      "registry.example.com/tools/lint:v3",
      "gcr.io/distroless/static",
    ]);
  });
});

describe("insertEnvAfterFrom", () => {
  it("sets the env after every FROM (continued lines too), values literal, private args named", () => {
    const dockerfile = "FROM golang AS build\nRUN make\nFROM \\\n  alpine:3\nENV A=mine\nCMD x";
    expect(
      insertEnvAfterFrom(dockerfile, [
        { name: "A", value: 'q"$HOME\\' },
        { name: "T", fromArg: "KILN_STAGE_ENV_1" },
      ]),
    ).toBe(
      [
        "FROM golang AS build",
        "ARG KILN_STAGE_ENV_1",
        'ENV A="q\\"\\$HOME\\\\" T="${KILN_STAGE_ENV_1}"',
        "RUN make",
        "FROM \\",
        "  alpine:3",
        "ARG KILN_STAGE_ENV_1",
        'ENV A="q\\"\\$HOME\\\\" T="${KILN_STAGE_ENV_1}"',
        "ENV A=mine",
        "CMD x",
      ].join("\n"),
    );
  });
  it("escapes with the Dockerfile's own escape character", () => {
    expect(insertEnvAfterFrom("# escape=`\nFROM x", [{ name: "A", value: "$b" }])).toBe(
      '# escape=`\nFROM x\nENV A="`$b"',
    );
  });
  it("leaves a Dockerfile alone when there is no env", () => {
    expect(insertEnvAfterFrom("FROM x", [])).toBe("FROM x");
  });
});
