import { describe, expect, it } from "vitest";
import { buildSpecSchema, imageReferenceByDigest, planNextBuild } from "./build.js";
import { parseResource } from "./parse.js";

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

describe("buildSpecSchema", () => {
  const spec = {
    buildConfig: "app",
    number: 1,
    source: { dockerfile: "FROM scratch\n" },
    strategy: { type: "Docker" },
    output: { image: null, imageLabels: [] },
    revision: {},
    env: [],
    triggeredBy: [{ type: "Manual", message: "test" }],
  };
  const paths = (value: unknown) =>
    buildSpecSchema()
      .safeParse(value)
      .error?.issues.map((i) => i.path.join("."));

  it("accepts the smallest spec a build has", () => {
    expect(buildSpecSchema().parse(spec)).toEqual(spec);
  });

  it("names the path of every malformed field, down to the BuildConfig's own rules", () => {
    expect(
      paths({
        ...spec,
        number: "1",
        strategy: { type: "Custom" },
        output: { image: 7, imageLabels: [] },
        triggeredBy: [{ type: "Manual" }],
      }),
    ).toEqual(["number", "strategy.type", "output.image", "triggeredBy.0.message"]);
  });
});

describe("planNextBuild", () => {
  const resource = parseResource({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "hello" },
    spec: {
      source: { git: { uri: "https://example.test/hello.git" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
    },
  });
  if (resource.kind !== "BuildConfig") throw new Error("not a BuildConfig");

  it("numbers the build one past the BuildConfig's last and snapshots its spec", () => {
    const planned = planNextBuild(
      { spec: resource.spec, lastVersion: 6 },
      {
        namespace: "default",
        buildConfig: "hello",
        commit: "abc",
        env: [{ name: "A", value: "1" }],
        cause: { type: "Manual", message: "Manually triggered" },
      },
      "127.0.0.1:15000",
    );
    expect(planned.number).toBe(7);
    expect(planned.name).toBe("hello-7");
    expect(planned.spec).toMatchObject({
      buildConfig: "hello",
      number: 7,
      output: { image: "127.0.0.1:15000/default/hello:latest" },
      revision: { commit: "abc" },
      env: [{ name: "A", value: "1" }],
      triggeredBy: [{ type: "Manual", message: "Manually triggered" }],
    });
  });
});
