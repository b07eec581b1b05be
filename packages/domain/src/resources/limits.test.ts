import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { buildSpecFor, buildSpecSizeIssue } from "./build.js";
import type { BuildConfigSpec } from "./build-config.js";
import {
  formatBytes,
  formatCount,
  jsonBytes,
  largestPart,
  maxBuildSpecBytes,
  maxCompletionDeadlineSeconds,
} from "./limits.js";
import { parseResource } from "./parse.js";

function buildConfig(spec: Record<string, unknown> = {}, source?: Record<string, unknown>) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "hello" },
    spec: {
      source: source ?? { git: { uri: "https://example.test/hello.git" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
      ...spec,
    },
  };
}

function issuesOf(doc: unknown) {
  try {
    parseResource(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

const specOf = (doc: unknown) => {
  const resource = parseResource(doc);
  if (resource.kind !== "BuildConfig") throw new Error("not a BuildConfig");
  return resource.spec;
};

/** The spec a manual build of `spec` carries, as the scheduler makes it. */
const buildOf = (spec: BuildConfigSpec, env: { name: string; value: string }[] = []) =>
  buildSpecFor(
    spec,
    {
      namespace: "default",
      buildConfig: "hello",
      number: 1,
      env,
      cause: { type: "Manual", message: "Manually triggered" },
    },
    "127.0.0.1:15000",
  );

describe("numeric fields", () => {
  it("takes completionDeadlineSeconds up to the longest timer a runner can set", () => {
    expect(maxCompletionDeadlineSeconds).toBe(2_147_483);
    // The runner's timer of seconds × 1000 ms stays inside Node's 2^31 − 1 ms.
    expect(maxCompletionDeadlineSeconds * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(issuesOf(buildConfig({ completionDeadlineSeconds: 2_147_483 }))).toEqual([]);
    expect(issuesOf(buildConfig({ completionDeadlineSeconds: 2_147_484 }))).toEqual([
      {
        path: "spec.completionDeadlineSeconds",
        message: "must be at most 2,147,483 (about 24.8 days: the longest timer a runner can set)",
      },
    ]);
    expect(issuesOf(buildConfig({ completionDeadlineSeconds: 0 }))).toHaveLength(1);
  });

  it("keeps the history limits to what the pruning query reads", () => {
    expect(
      issuesOf(
        buildConfig({ successfulBuildsHistoryLimit: 2 ** 31 - 1, failedBuildsHistoryLimit: 0 }),
      ),
    ).toEqual([]);
    expect(issuesOf(buildConfig({ failedBuildsHistoryLimit: 2 ** 31 }))).toEqual([
      {
        path: "spec.failedBuildsHistoryLimit",
        message: "must be at most 2,147,483,647 (a 32-bit integer, as in OpenShift)",
      },
    ]);
    expect(issuesOf(buildConfig({ successfulBuildsHistoryLimit: -1 }))).toHaveLength(1);
    expect(issuesOf(buildConfig({ successfulBuildsHistoryLimit: 1.5 }))).toHaveLength(1);
  });

  it("refuses a metadata.generation that no server could have set", () => {
    const doc = buildConfig();
    expect(issuesOf({ ...doc, metadata: { ...doc.metadata, generation: -1 } })).toHaveLength(1);
    expect(issuesOf({ ...doc, metadata: { ...doc.metadata, generation: 3 } })).toEqual([]);
  });
});

describe("the size of a build's spec", () => {
  it("says limits the way people read them", () => {
    expect(formatCount(921_600)).toBe("921,600");
    expect(formatCount(999)).toBe("999");
    expect(formatBytes(maxBuildSpecBytes)).toBe("900 KiB");
    expect(formatBytes(1024 * 1024)).toBe("1 MiB");
    expect(jsonBytes("é")).toBe(4);
  });

  it("lets a Dockerfile just under the limit through", () => {
    const spec = specOf(buildConfig({}, { dockerfile: "x" }));
    const room = maxBuildSpecBytes - jsonBytes(buildOf(spec));
    const fits = specOf(buildConfig({}, { dockerfile: `x${"#".repeat(room)}` }));
    expect(jsonBytes(buildOf(fits))).toBe(maxBuildSpecBytes);
    expect(buildSpecSizeIssue(buildOf(fits))).toBeNull();
  });

  it("names an inline Dockerfile over the limit, and the limit", () => {
    const spec = specOf(buildConfig({}, { dockerfile: "#".repeat(1024 * 1024) }));
    expect(buildSpecSizeIssue(buildOf(spec))).toEqual({
      path: "spec.source.dockerfile",
      message: "1,048,576 bytes is over the 900 KiB (921,600 bytes) a build can carry",
    });
  });

  it("names the largest part when the parts together are over", () => {
    const spec = specOf(buildConfig({}, { dockerfile: "#".repeat(600 * 1024) }));
    const env = [{ name: "BIG", value: "v".repeat(400 * 1024) }];
    const issue = buildSpecSizeIssue(buildOf(spec, env));
    expect(issue?.path).toBe("spec.source.dockerfile");
    expect(issue?.message).toMatch(
      /^614,400 bytes, which makes the build's spec 1,024,\d{3} bytes, over the 900 KiB \(921,600 bytes\) a build can carry$/,
    );
  });

  it("names env as a whole when many small variables make it large", () => {
    const spec = specOf(buildConfig());
    const env = Array.from({ length: 20_000 }, (_, i) => ({
      name: `V${i}`,
      value: "x".repeat(40),
    }));
    expect(buildSpecSizeIssue(buildOf(spec, env))?.path).toBe("env");
  });

  it("follows the largest part only while it holds most of its parent", () => {
    expect(largestPart({ a: { b: "x".repeat(100), c: "y" }, d: 1 })).toEqual({
      path: ["a", "b"],
      bytes: 100,
    });
    expect(largestPart({ a: "x".repeat(10), b: "y".repeat(10) })).toMatchObject({ path: [] });
  });
});

describe("registry credentials", () => {
  const secret = (json: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "registry" },
    type: "kubernetes.io/dockerconfigjson",
    stringData: { ".dockerconfigjson": json },
  });
  const config = (padding: number) =>
    JSON.stringify({
      auths: { "registry.example.test": { auth: "dTpw" } },
      pad: "x".repeat(padding),
    });

  it("refuses a docker config too large to travel with each build", () => {
    const at = 16 * 1024 - config(0).length;
    expect(issuesOf(secret(config(at)))).toEqual([]);
    expect(issuesOf(secret(config(at + 1)))).toEqual([
      {
        path: "stringData..dockerconfigjson",
        message:
          "16,385 bytes is over the 16 KiB (16,384 bytes) registry credentials can have (they travel with each build)",
      },
    ]);
  });
});
