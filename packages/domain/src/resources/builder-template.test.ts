import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { isAllowed, Verb, AccessResource } from "../access/roles.js";
import { parseResource } from "./parse.js";

const template = {
  apiVersion: "kiln.dev/v1",
  kind: "BuilderTemplate",
  metadata: { name: "go", namespace: "openshift" },
  spec: {
    description: "Go modules",
    codeFramework: "go",
    versions: [
      { name: "1.22", builderImage: { kind: "ImageStreamTag", name: "golang:1.22" } },
      {
        name: "1.23",
        builderImage: { kind: "DockerImage", name: "registry.test/golang:1.23" },
        runtimeImage: { kind: "DockerImage", name: "registry.test/busybox:latest" },
        runtimeArtifacts: [{ sourcePath: "/opt/app-root/app" }],
      },
    ],
    defaultVersion: "1.23",
    env: [{ name: "CGO_ENABLED", value: "0" }],
    detect: { files: ["go.mod"] },
  },
};

function issuesOf(doc: unknown) {
  try {
    parseResource(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a ValidationError");
}

const withSpec = (spec: Record<string, unknown>) => ({
  ...template,
  spec: { ...template.spec, ...spec },
});

describe("BuilderTemplate", () => {
  it("is a kiln.dev/v1 kind, its spec kept as written", () => {
    const r = parseResource(template);
    expect(r.kind).toBe("BuilderTemplate");
    if (r.kind !== "BuilderTemplate") throw new Error("kind");
    expect(r.metadata.namespace).toBe("openshift");
    expect(r.spec.versions.map((v) => v.name)).toEqual(["1.22", "1.23"]);
    expect(r.spec.detect.files).toEqual(["go.mod"]);
  });

  it("names what is wrong: no version, an unknown default, a duplicate, a path in detect", () => {
    expect(issuesOf(withSpec({ versions: [], defaultVersion: undefined }))).toEqual([
      { path: "spec.versions", message: "at least one version with its builderImage" },
    ]);
    expect(issuesOf(withSpec({ defaultVersion: "2.0" }))).toEqual([
      { path: "spec.defaultVersion", message: "2.0 is not one of the versions (1.22, 1.23)" },
    ]);
    expect(
      issuesOf(withSpec({ versions: [template.spec.versions[0], template.spec.versions[0]] })),
    ).toEqual([
      { path: "spec.versions", message: "each version name at most once" },
      { path: "spec.defaultVersion", message: "1.23 is not one of the versions (1.22, 1.22)" },
    ]);
    expect(issuesOf(withSpec({ detect: { files: ["src/go.mod"] } }))).toEqual([
      {
        path: "spec.detect.files[0]",
        message: "a file name at the top of the repository (no /)",
      },
    ]);
  });

  it("refuses runtime artifacts without a runtime image, and a misspelt field", () => {
    const versions = [
      {
        name: "1",
        builderImage: { kind: "DockerImage", name: "b" },
        runtimeArtifacts: [{ sourcePath: "/a" }],
      },
    ];
    expect(issuesOf(withSpec({ versions, defaultVersion: undefined }))).toEqual([
      { path: "spec.versions[0].runtimeArtifacts", message: "needs runtimeImage" },
    ]);
    expect(issuesOf(withSpec({ detects: ["go.mod"] }))).toEqual([
      { path: "spec", message: "unknown field detects" },
    ]);
  });

  it("shared templates are readable by any token; changed only with edit there", () => {
    const stranger = {
      name: "ci",
      clusterAdmin: false,
      roles: [{ namespace: "team-a", role: "edit" as const }],
    };
    const read = { verb: Verb.Read, resource: AccessResource.BuilderTemplates };
    expect(isAllowed(stranger, { ...read, namespace: "openshift" })).toBe(true);
    expect(isAllowed(stranger, { ...read, namespace: "team-b" })).toBe(false);
    expect(
      isAllowed(stranger, {
        verb: Verb.Edit,
        resource: AccessResource.BuilderTemplates,
        namespace: "openshift",
      }),
    ).toBe(false);
    expect(
      isAllowed(stranger, {
        verb: Verb.Edit,
        resource: AccessResource.BuilderTemplates,
        namespace: "team-a",
      }),
    ).toBe(true);
  });
});
