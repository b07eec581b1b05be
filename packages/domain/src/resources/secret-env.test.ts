import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { buildSpecSchema } from "./build.js";
import { parseResourceWithWarnings } from "./parse.js";
import { secretEnvRefs, withSecretEnv } from "./secret-env.js";

const ref = (name: string, key: string, optional?: boolean) => ({
  valueFrom: { secretKeyRef: { name, key, ...(optional === undefined ? {} : { optional }) } },
});

function spec(docker: Record<string, unknown>) {
  return buildSpecSchema().parse({
    buildConfig: "app",
    number: 1,
    source: { dockerfile: "FROM scratch" },
    strategy: { type: "Docker", dockerStrategy: docker },
    output: { image: null, imageLabels: [] },
    revision: {},
    env: [],
    triggeredBy: [],
  });
}

describe("env values from Secrets", () => {
  const built = spec({
    env: [
      { name: "PLAIN", value: "p" },
      { name: "TOKEN", ...ref("s", "token") },
    ],
    buildArgs: [
      { name: "ARG", ...ref("s", "arg") },
      { name: "MAYBE", ...ref("gone", "x", true) },
    ],
  });

  it("finds each reference, named as the BuildConfig has it", () => {
    expect(secretEnvRefs(built)).toEqual([
      {
        field: "spec.strategy.dockerStrategy.env[1]",
        env: "TOKEN",
        ref: { name: "s", key: "token" },
      },
      {
        field: "spec.strategy.dockerStrategy.buildArgs[0]",
        env: "ARG",
        ref: { name: "s", key: "arg" },
      },
      {
        field: "spec.strategy.dockerStrategy.buildArgs[1]",
        env: "MAYBE",
        ref: { name: "gone", key: "x", optional: true },
      },
    ]);
  });

  it("fills the values in; an optional one that is absent leaves the variable unset", () => {
    const filled = withSecretEnv(built, { s: { token: "t0k3n", arg: "a4g" } });
    expect(filled.strategy.dockerStrategy?.env?.map((e) => [e.name, e.value])).toEqual([
      ["PLAIN", "p"],
      ["TOKEN", "t0k3n"],
    ]);
    expect(filled.strategy.dockerStrategy?.buildArgs?.map((e) => [e.name, e.value])).toEqual([
      ["ARG", "a4g"],
    ]);
    // The stored spec itself is left as it was.
    expect(built.strategy.dockerStrategy?.env?.[1]?.value).toBe("");
  });

  it("a required value that was not sealed is an error, not an empty variable", () => {
    expect(() => withSecretEnv(built, { s: { token: "t" } })).toThrow(
      "no value was sealed for env ARG (Secret s, key arg)",
    );
  });

  it("a spec without references is returned as it is", () => {
    const plain = spec({ env: [{ name: "A", value: "1" }] });
    expect(withSecretEnv(plain, undefined)).toBe(plain);
  });
});

function issuesOf(env: unknown[]) {
  try {
    parseResourceWithWarnings({
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "app" },
      spec: {
        source: { git: { uri: "https://example.test/app.git" } },
        strategy: { type: "Docker", dockerStrategy: { env } },
      },
    });
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

describe("applying env that reads a Secret", () => {
  const at = "spec.strategy.dockerStrategy.env[0]";

  it("applies with a secretKeyRef", () => {
    expect(issuesOf([{ name: "T", ...ref("s", "k") }])).toEqual([]);
  });

  it("refuses a value beside it, as Kubernetes does", () => {
    expect(issuesOf([{ name: "T", value: "v", ...ref("s", "k") }])).toEqual([
      { path: `${at}.valueFrom`, message: "may not be set when value is not empty" },
    ]);
  });

  it("refuses a ConfigMap reference, naming it, and an empty valueFrom", () => {
    expect(
      issuesOf([{ name: "T", valueFrom: { configMapKeyRef: { name: "c", key: "k" } } }]),
    ).toContainEqual({
      path: `${at}.valueFrom.configMapKeyRef`,
      message: "not supported by Kiln: Kiln has no ConfigMaps (use secretKeyRef or value)",
    });
    expect(issuesOf([{ name: "T", valueFrom: {} }])).toEqual([
      {
        path: `${at}.valueFrom.secretKeyRef`,
        message: "required (the only source Kiln reads a value from)",
      },
    ]);
  });

  it("refuses a name buildah reads from its own environment, where the value is passed, naming the field", () => {
    for (const name of [
      "PATH",
      "HOME",
      "BUILDAH_ISOLATION",
      "_CONTAINERS_USERNS_CONFIGURED",
      "https_proxy",
    ])
      expect(issuesOf([{ name, ...ref("s", "k") }]), name).toEqual([
        {
          path: `${at}.name`,
          message: expect.stringMatching(
            /^may not be read from a Secret: .*read by buildah from its own environment, where Kiln passes a Secret's value: give the variable another name$/,
          ),
        },
      ]);
    // A plain value is on the command line, where buildah reads nothing of its own, and near misses are fine.
    expect(issuesOf([{ name: "PATH", value: "/opt/bin" }])).toEqual([]);
    expect(issuesOf([{ name: "MY_PATH", ...ref("s", "k") }])).toEqual([]);
  });

  it("refuses a reference without its key", () => {
    expect(issuesOf([{ name: "T", valueFrom: { secretKeyRef: { name: "s" } } }])).toEqual([
      expect.objectContaining({ path: `${at}.valueFrom.secretKeyRef.key` }),
    ]);
  });
});
