import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResource, parseResources } from "./parse.js";

const dockerBuildConfig = {
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name: "hello" },
  spec: {
    source: { git: { uri: "https://example.test/hello.git", ref: "main" } },
    strategy: { type: "Docker", dockerStrategy: {} },
    output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
  },
};

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a ValidationError");
}

describe("parseResource", () => {
  it("defaults the namespace, run policy and history limits like OpenShift", () => {
    const r = parseResource(dockerBuildConfig);
    expect(r.kind).toBe("BuildConfig");
    expect(r.metadata.namespace).toBe("default");
    if (r.kind !== "BuildConfig") throw new Error("kind");
    expect(r.spec.runPolicy).toBe("Serial");
    expect(r.spec.successfulBuildsHistoryLimit).toBe(5);
    expect(r.spec.triggers).toEqual([]);
  });

  it("names the field path of a missing builder image", () => {
    const doc = structuredClone(dockerBuildConfig) as Record<string, any>;
    doc.spec.strategy = { type: "Source", sourceStrategy: { from: { kind: "DockerImage" } } };
    expect(issuesOf(() => parseResource(doc))).toEqual([
      { path: "spec.strategy.sourceStrategy.from.name", message: "required" },
    ]);
  });

  it("refuses a misspelt field in a kiln.dev/v1 document", () => {
    const doc = structuredClone(dockerBuildConfig) as Record<string, any>;
    doc.spec.strategy.dockerStrategy = { dockerfilepath: "Dockerfile" };
    expect(issuesOf(() => parseResource(doc))).toEqual([
      { path: "spec.strategy.dockerStrategy", message: "unknown field dockerfilepath" },
    ]);
  });

  it("accepts an OpenShift build.openshift.io/v1 BuildConfig as it is", () => {
    const openshift = {
      apiVersion: "build.openshift.io/v1",
      kind: "BuildConfig",
      metadata: { name: "ruby-sample-build", namespace: "demo", labels: { app: "ruby" } },
      spec: {
        nodeSelector: null,
        postCommit: { script: "bundle exec rake test" },
        source: { type: "Git", git: { uri: "https://github.com/openshift/ruby-hello-world" } },
        strategy: {
          type: "Source",
          sourceStrategy: {
            from: { kind: "ImageStreamTag", name: "ruby:2.7", namespace: "openshift" },
            incremental: true,
          },
        },
        output: { to: { kind: "ImageStreamTag", name: "origin-ruby-sample:latest" } },
        triggers: [
          { type: "GitHub", github: { secret: "s3cr3t" } },
          { type: "ImageChange", imageChange: {} },
          { type: "ConfigChange" },
        ],
        runPolicy: "SerialLatestOnly",
      },
      status: { lastVersion: 7 },
    };
    const r = parseResource(openshift);
    expect(r.apiVersion).toBe("kiln.dev/v1");
    expect(r.metadata.namespace).toBe("demo");
    if (r.kind !== "BuildConfig") throw new Error("kind");
    expect(r.spec.strategy.sourceStrategy?.from.name).toBe("ruby:2.7");
    expect(r.spec.runPolicy).toBe("SerialLatestOnly");
    expect(r.spec.triggers.map((t) => t.type)).toEqual(["GitHub", "ImageChange", "ConfigChange"]);
  });

  it("refuses strategies Kiln cannot run, naming them", () => {
    const doc = {
      ...dockerBuildConfig,
      spec: { ...dockerBuildConfig.spec, strategy: { type: "Custom" } },
    };
    expect(issuesOf(() => parseResource(doc))).toEqual([
      {
        path: "spec.strategy.type",
        message: "Custom is not supported by Kiln (use Docker or Source)",
      },
    ]);
  });

  it("infers strategy.type from the one strategy block set, as OpenShift does", () => {
    const withStrategy = (strategy: unknown) => ({
      apiVersion: "build.openshift.io/v1",
      kind: "BuildConfig",
      metadata: { name: "ruby-sample-build" },
      spec: { ...dockerBuildConfig.spec, strategy },
    });
    const from = { kind: "ImageStreamTag", namespace: "openshift", name: "ruby:2.7" };
    const source = parseResource(withStrategy({ sourceStrategy: { from } }));
    const docker = parseResource(withStrategy({ dockerStrategy: { noCache: true } }));
    if (source.kind !== "BuildConfig" || docker.kind !== "BuildConfig") throw new Error("kind");
    expect(source.spec.strategy.type).toBe("Source");
    expect(docker.spec.strategy.type).toBe("Docker");
    expect(issuesOf(() => parseResource(withStrategy({})))).toEqual([
      {
        path: "spec.strategy.type",
        message: "required when no strategy block (sourceStrategy or dockerStrategy) is set",
      },
    ]);
    expect(
      issuesOf(() => parseResource(withStrategy({ sourceStrategy: { from }, dockerStrategy: {} }))),
    ).toEqual([
      {
        path: "spec.strategy.type",
        message:
          "required when sourceStrategy and dockerStrategy are both set (keep one, and the type is inferred from it)",
      },
    ]);
    // A block of another strategy than the type would be ignored: refused, as OpenShift does.
    expect(
      issuesOf(() => parseResource(withStrategy({ type: "Docker", sourceStrategy: { from } }))),
    ).toEqual([
      { path: "spec.strategy.sourceStrategy", message: "must not be set when type is Docker" },
    ]);
  });

  it("refuses an unknown apiVersion and kind with the field named", () => {
    expect(
      issuesOf(() => parseResource({ apiVersion: "apps/v1", kind: "Deployment" }))[0]?.path,
    ).toBe("apiVersion");
    expect(issuesOf(() => parseResource({ apiVersion: "kiln.dev/v1", kind: "Pod" }))[0]?.path).toBe(
      "kind",
    );
    expect(issuesOf(() => parseResource({ metadata: {} }))).toEqual([
      { path: "apiVersion", message: "required" },
      { path: "kind", message: "required" },
    ]);
    expect(issuesOf(() => parseResource("just a string"))).toEqual([
      { path: "(document)", message: "must be a mapping with apiVersion, kind, metadata and spec" },
    ]);
  });
});

describe("parseResources", () => {
  it("reports every wrong document at once, prefixed with its index", () => {
    const bad = { ...dockerBuildConfig, metadata: { name: "Not_A_Name" } };
    const noSource = {
      ...dockerBuildConfig,
      metadata: { name: "x" },
      spec: { ...dockerBuildConfig.spec, source: {} },
    };
    expect(issuesOf(() => parseResources([dockerBuildConfig, bad, noSource]))).toEqual([
      {
        path: "items[1].metadata.name",
        message:
          "must be a lowercase DNS-1123 subdomain: letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit",
      },
      { path: "items[2].spec.source", message: "one of git, dockerfile or binary is required" },
    ]);
  });

  it("refuses the same resource twice in one apply", () => {
    expect(issuesOf(() => parseResources([dockerBuildConfig, dockerBuildConfig]))).toEqual([
      { path: "items[1].metadata.name", message: "BuildConfig/default/hello appears twice" },
    ]);
  });
});

describe("ImageStreamGrant", () => {
  const grant = (spec: unknown) => ({
    apiVersion: "kiln.dev/v1",
    kind: "ImageStreamGrant",
    metadata: { name: "team-b-builds", namespace: "default" },
    spec,
  });

  it("is read in the granting namespace with its grantee and access", () => {
    const r = parseResource(grant({ grantee: { namespace: "team-b" }, access: ["pull", "push"] }));
    expect(r).toMatchObject({
      kind: "ImageStreamGrant",
      metadata: { namespace: "default" },
      spec: { grantee: { namespace: "team-b" }, access: ["pull", "push"] },
    });
    expect(parseResource(grant({ grantee: { namespace: "*" }, access: ["pull"] })).spec).toEqual({
      grantee: { namespace: "*" },
      access: ["pull"],
    });
  });

  it("names each wrong field", () => {
    expect(
      issuesOf(() =>
        parseResource(
          grant({ grantee: { namespace: "Team B" }, access: ["read"], imageStreams: [] }),
        ),
      ).map((i) => i.path),
    ).toEqual(["spec.grantee.namespace", "spec.access[0]", "spec.imageStreams"]);
  });
});
