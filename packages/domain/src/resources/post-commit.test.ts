import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResource } from "./parse.js";
import {
  hasPostCommitHook,
  postCommitArgv,
  postCommitEnv,
  renderPostCommitDockerfile,
} from "./post-commit.js";
import { buildSpecFor } from "./build.js";

function buildConfig(apiVersion: string, postCommit: unknown) {
  return {
    apiVersion,
    kind: "BuildConfig",
    metadata: { name: "app" },
    spec: {
      source: { git: { uri: "https://example.test/app.git" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      postCommit,
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

function hookOf(doc: unknown) {
  const r = parseResource(doc);
  if (r.kind !== "BuildConfig") throw new Error("kind");
  return r.spec.postCommit;
}

describe("spec.postCommit at apply", () => {
  it("keeps each of OpenShift's forms (script, command, args, and with args)", () => {
    for (const hook of [
      { script: "rake test --verbose" },
      { command: ["rake", "test", "--verbose"] },
      { args: ["rake", "test", "--verbose"] },
      { script: "rake test $1", args: ["--verbose"] },
      { command: ["rake", "test"], args: ["--verbose"] },
    ]) {
      expect(hookOf(buildConfig("kiln.dev/v1", hook))).toEqual(hook);
      expect(hookOf(buildConfig("build.openshift.io/v1", hook))).toEqual(hook);
    }
  });

  it("refuses a hook that runs nothing, naming the field", () => {
    expect(issuesOf(buildConfig("kiln.dev/v1", {}))).toEqual([
      {
        path: "spec.postCommit",
        message: "an empty hook runs nothing: set script, or command (and args), or args",
      },
    ]);
    for (const apiVersion of ["kiln.dev/v1", "build.openshift.io/v1"]) {
      expect(issuesOf(buildConfig(apiVersion, { script: "" }))).toEqual([
        { path: "spec.postCommit.script", message: "must not be empty" },
      ]);
      expect(issuesOf(buildConfig(apiVersion, { script: "  ", args: ["x"] }))).toEqual([
        { path: "spec.postCommit.script", message: "must not be empty" },
      ]);
      expect(issuesOf(buildConfig(apiVersion, { command: [] }))).toEqual([
        {
          path: "spec.postCommit.command",
          message: "must not be empty: it names the program the hook runs",
        },
      ]);
      expect(issuesOf(buildConfig(apiVersion, { command: [""], args: ["a"] }))).toEqual([
        {
          path: "spec.postCommit.command[0]",
          message: "must not be empty: it names the program the hook runs",
        },
      ]);
      expect(issuesOf(buildConfig(apiVersion, { args: [] }))).toEqual([
        {
          path: "spec.postCommit.args",
          message: "must not be empty when neither script nor command is set",
        },
      ]);
    }
  });

  it("refuses script together with command, as OpenShift does", () => {
    expect(
      issuesOf(buildConfig("kiln.dev/v1", { script: "make test", command: ["make"] })),
    ).toEqual([
      {
        path: "spec.postCommit.command",
        message: "cannot be used with script (OpenShift: one or the other)",
      },
    ]);
  });

  it("reads OpenShift's `postCommit: {}` (on every BuildConfig its API returns) as no hook", () => {
    expect(hookOf(buildConfig("build.openshift.io/v1", {}))).toBeUndefined();
  });

  it("refuses a misspelt field in kiln.dev/v1", () => {
    expect(issuesOf(buildConfig("kiln.dev/v1", { scripts: "make test" }))).toEqual([
      { path: "spec.postCommit", message: "unknown field scripts" },
    ]);
  });

  it("is carried into the build's spec, so the runner runs it", () => {
    const r = parseResource(buildConfig("kiln.dev/v1", { script: "make test" }));
    if (r.kind !== "BuildConfig") throw new Error("kind");
    const spec = buildSpecFor(
      r.spec,
      {
        namespace: "default",
        buildConfig: "app",
        number: 1,
        env: [],
        cause: { type: "Manual", message: "test" },
      },
      "registry.test",
    );
    expect(spec.postCommit).toEqual({ script: "make test" });
    expect(hasPostCommitHook(spec)).toBe(true);
    const without = { ...spec, postCommit: undefined };
    expect(hasPostCommitHook(without)).toBe(false);
  });
});

describe("postCommitArgv", () => {
  const image = { entrypoint: ["/usr/bin/entry", "--flag"] };

  it("runs a script with /bin/sh -ic, $0 /bin/sh and args as $1…", () => {
    expect(postCommitArgv({ script: "rake test $1", args: ["--verbose"] }, image)).toEqual([
      "/bin/sh",
      "-ic",
      "rake test $1",
      "/bin/sh",
      "--verbose",
    ]);
  });

  it("puts command in place of the entrypoint, args after it", () => {
    expect(postCommitArgv({ command: ["rake", "test"], args: ["--verbose"] }, image)).toEqual([
      "rake",
      "test",
      "--verbose",
    ]);
  });

  it("gives args alone to the image's entrypoint, in place of its CMD", () => {
    expect(postCommitArgv({ args: ["test"] }, image)).toEqual(["/usr/bin/entry", "--flag", "test"]);
    expect(postCommitArgv({ args: ["rake", "test"] }, { entrypoint: [] })).toEqual([
      "rake",
      "test",
    ]);
  });
});

describe("the hook's container", () => {
  it("has the strategy's env, then the build's, the last of a name winning", () => {
    expect(
      postCommitEnv({
        strategy: { dockerStrategy: { env: [{ name: "A", value: "strategy" }] } },
        env: [
          { name: "A", value: "start-build" },
          { name: "B", value: "b" },
        ],
      }),
    ).toEqual([
      { name: "A", value: "start-build" },
      { name: "B", value: "b" },
    ]);
  });

  it("is one exec-form RUN on the image, with values taken literally", () => {
    expect(
      renderPostCommitDockerfile({
        image: "localhost/kiln/default/app-1:latest",
        argv: ["/bin/sh", "-ic", 'echo "$GREETING"', "/bin/sh"],
        env: [{ name: "GREETING", value: 'say "hi" to $USER\nand bye' }],
      }),
    ).toBe(
      [
        "# Generated by Kiln: the BuildConfig's spec.postCommit hook.",
        "FROM localhost/kiln/default/app-1:latest",
        'ENV GREETING="say \\"hi\\" to \\$USER and bye"',
        'RUN ["/bin/sh","-ic","echo \\"$GREETING\\"","/bin/sh"]',
        "",
      ].join("\n"),
    );
  });
});
