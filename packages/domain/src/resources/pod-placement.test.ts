import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResource } from "./parse.js";
import { parseQuantity } from "./pod-placement.js";

const buildConfig = (spec: Record<string, unknown>, apiVersion = "kiln.dev/v1") => ({
  apiVersion,
  kind: "BuildConfig",
  metadata: { name: "hello" },
  spec: {
    source: { git: { uri: "https://example.test/hello.git" } },
    strategy: { type: "Docker" },
    ...spec,
  },
});

function specOf(doc: unknown) {
  const r = parseResource(doc);
  if (r.kind !== "BuildConfig") throw new Error("kind");
  return r.spec;
}

function issuesOf(doc: unknown) {
  try {
    parseResource(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a ValidationError");
}

describe("BuildConfig spec.resources and spec.nodeSelector", () => {
  it("keeps requests, limits and the node selector, with bare numbers as quantity strings", () => {
    const spec = specOf(
      buildConfig({
        resources: {
          requests: { cpu: "250m", memory: "512Mi" },
          limits: { cpu: 2, memory: "2Gi", "example.com/gpu": "1" },
        },
        nodeSelector: { "kubernetes.io/arch": "amd64", "kiln.dev/builds": "yes" },
      }),
    );
    expect(spec.resources).toEqual({
      requests: { cpu: "250m", memory: "512Mi" },
      limits: { cpu: "2", memory: "2Gi", "example.com/gpu": "1" },
    });
    expect(spec.nodeSelector).toEqual({ "kubernetes.io/arch": "amd64", "kiln.dev/builds": "yes" });
  });

  it("leaves both out when the BuildConfig has none, and takes OpenShift's nodeSelector: null as none", () => {
    expect(specOf(buildConfig({})).resources).toBeUndefined();
    const openshift = specOf(
      buildConfig(
        { nodeSelector: null, resources: { limits: { memory: "1Gi" } } },
        "build.openshift.io/v1",
      ),
    );
    expect(openshift.nodeSelector).toBeNull();
    expect(openshift.resources).toEqual({ limits: { memory: "1Gi" } });
  });

  it("refuses resource claims, which Kiln cannot give a build pod, naming the field", () => {
    const doc = buildConfig(
      { resources: { limits: { memory: "1Gi" }, claims: [{ name: "gpu" }] } },
      "build.openshift.io/v1",
    );
    expect(issuesOf(doc)).toEqual([
      {
        path: "spec.resources.claims",
        message: "not supported by Kiln: dynamic resource claims are not supported",
      },
    ]);
  });

  it("refuses an unknown field of resources in a kiln.dev/v1 document", () => {
    expect(issuesOf(buildConfig({ resources: { limit: { cpu: "1" } } }))).toEqual([
      { path: "spec.resources", message: "unknown field limit" },
    ]);
  });

  it("refuses a quantity that is not one, naming the resource", () => {
    const issues = issuesOf(
      buildConfig({ resources: { limits: { memory: "lots" }, requests: { cpu: "-1" } } }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      "spec.resources.limits.memory",
      "spec.resources.requests.cpu",
    ]);
    expect(issues[0]?.message).toContain("Kubernetes quantity");
  });

  it("refuses a request above its limit, comparing across units", () => {
    expect(
      issuesOf(
        buildConfig({ resources: { requests: { memory: "2Gi" }, limits: { memory: "1500Mi" } } }),
      ),
    ).toEqual([
      {
        path: "spec.resources.requests.memory",
        message: "must be less than or equal to the memory limit (1500Mi)",
      },
    ]);
    expect(
      specOf(buildConfig({ resources: { requests: { cpu: "500m" }, limits: { cpu: "0.5" } } }))
        .resources?.requests,
    ).toEqual({ cpu: "500m" });
  });

  it("refuses node selector keys and values that are not labels", () => {
    const issues = issuesOf(
      buildConfig({ nodeSelector: { "bad key!": "x", zone: "a".repeat(64) } }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      "spec.nodeSelector.bad key!",
      "spec.nodeSelector.zone",
    ]);
  });
});

describe("parseQuantity", () => {
  it("reads decimal, binary and exponent suffixes", () => {
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("2")).toBe(2);
    expect(parseQuantity("1Gi")).toBe(2 ** 30);
    expect(parseQuantity("1.5k")).toBe(1500);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity(".5")).toBe(0.5);
  });

  it("answers null for what is not a quantity", () => {
    for (const bad of ["", "Gi", "1GB", "1 Gi", "-1", "1.2.3", "0x10"])
      expect(parseQuantity(bad)).toBeNull();
  });
});
