import { describe, expect, it } from "vitest";
import { ValidationError } from "./errors.js";
import {
  buildName,
  imageStreamNameIssue,
  maxBuildConfigNameLength,
  maxImageNameLength,
  maxNamespaceLength,
  resourceNamePattern,
} from "./names.js";
import { parseResource } from "./resources/parse.js";

const subdomainRule =
  "must be a lowercase DNS-1123 subdomain: letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit";

function buildConfig(name: string, namespace?: string, to = "hello:latest") {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
    spec: {
      source: { git: { uri: "https://example.test/hello.git" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: to } },
    },
  };
}

const imageStream = (name: string) => ({
  apiVersion: "kiln.dev/v1",
  kind: "ImageStream",
  metadata: { name },
  spec: {},
});

function issuesOf(doc: unknown) {
  try {
    parseResource(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

describe("resource names", () => {
  it.each(["a..b", "a.-b", "a-.b", "-a", "a-", ".a", "Hello", "hello_world", "a b"])(
    "refuses %j, naming the DNS-1123 rule",
    (name) => {
      expect(issuesOf(imageStream(name))).toEqual([
        { path: "metadata.name", message: subdomainRule },
      ]);
    },
  );

  it("accepts the names Kubernetes accepts, dots and dashes inside", () => {
    for (const name of ["a", "a.b", "a-b.c-d", "0", "web.v2--x"]) {
      expect(resourceNamePattern.test(name)).toBe(true);
      expect(issuesOf(imageStream(name))).toEqual([]);
    }
  });

  it("takes a 253-character name, Kubernetes' longest, and refuses 254", () => {
    const long = (n: number) => `${"a".repeat(60)}.`.repeat(5).slice(0, n - 1) + "z";
    expect(long(253)).toHaveLength(253);
    expect(issuesOf(imageStream(long(253)))).toEqual([]);
    expect(issuesOf(imageStream(long(254)))).toEqual([
      { path: "metadata.name", message: "must be at most 253 characters" },
    ]);
  });

  it("refuses a namespace that is no DNS-1123 label of at most 63 characters", () => {
    expect(issuesOf(buildConfig("hello", "a".repeat(63)))).toEqual([]);
    expect(issuesOf(buildConfig("hello", "a".repeat(64)))).toEqual([
      { path: "metadata.namespace", message: "must be at most 63 characters" },
    ]);
    expect(issuesOf(buildConfig("hello", "team.a"))).toEqual([
      {
        path: "metadata.namespace",
        message:
          "must be a lowercase DNS-1123 label: letters, digits and '-', starting and ending with a letter or digit",
      },
    ]);
  });

  it("stops a BuildConfig name at 165 characters, saying why", () => {
    expect(maxBuildConfigNameLength).toBe(165);
    expect(issuesOf(buildConfig("b".repeat(165)))).toEqual([]);
    expect(issuesOf(buildConfig("b".repeat(166)))).toEqual([
      {
        path: "metadata.name",
        message:
          "must be at most 165 characters (its builds are <name>-<number>, and localhost/kiln/<namespace>/<build> must be an image name of at most 255)",
      },
    ]);
  });

  it("keeps every name derived from the longest BuildConfig valid", () => {
    const namespace = "n".repeat(maxNamespaceLength);
    const build = buildName("b".repeat(maxBuildConfigNameLength), 2_147_483_647);
    // The build's name: a DNS-1123 subdomain.
    expect(build.length).toBeLessThanOrEqual(253);
    expect(resourceNamePattern.test(build)).toBe(true);
    // The local engine's image tag and its work dir (mkdtemp adds six characters).
    expect(`localhost/kiln/${namespace}/${build}`.length).toBeLessThanOrEqual(maxImageNameLength);
    expect(`${namespace}-${build}-XXXXXX`.length).toBeLessThanOrEqual(255);
  });
});

describe("image stream references", () => {
  it("refuses an output tag whose ImageStream or tag can never be pushed", () => {
    expect(issuesOf(buildConfig("hello", undefined, "a..b:latest"))).toEqual([
      {
        path: "spec.output.to.name",
        message:
          "a..b is not an ImageStream name (a lowercase DNS-1123 subdomain of at most 253 characters)",
      },
    ]);
    expect(issuesOf(buildConfig("hello", undefined, "hello:-bad"))).toEqual([
      {
        path: "spec.output.to.name",
        message:
          "-bad is not an image tag (a letter, digit or _, then up to 127 letters, digits, _, . or -)",
      },
    ]);
  });

  it("says when an ImageStream's image name would be too long for its registry", () => {
    const registry = "registry.example.test:5000";
    expect(imageStreamNameIssue(registry, "default", "a".repeat(220))).toBeNull();
    expect(imageStreamNameIssue(registry, "default", "a".repeat(221))).toBe(
      "makes the image name registry.example.test:5000/default/… 256 characters, over the 255 an image name may have (at most 220 characters for this name in this namespace)",
    );
  });
});
