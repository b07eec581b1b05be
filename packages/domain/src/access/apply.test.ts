import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../errors.js";
import { parseResources } from "../resources/parse.js";
import { authorizeApply, authorizeImageUses } from "./apply.js";
import type { Subject } from "./roles.js";

const editor: Subject = {
  name: "ci",
  clusterAdmin: false,
  roles: [
    { namespace: "team-b", role: "edit" },
    { namespace: "default", role: "view" },
  ],
};

const bc = (namespace: string, to: Record<string, string>) => ({
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name: "app", namespace },
  spec: {
    source: { git: { uri: "file:///x" } },
    strategy: { type: "Docker" },
    output: { to: { kind: "ImageStreamTag", ...to } },
  },
});
const grant = (access: string[]) => ({
  apiVersion: "kiln.dev/v1",
  kind: "ImageStreamGrant",
  metadata: { name: "team-b", namespace: "default" },
  spec: { grantee: { namespace: "team-b" }, access },
});

function thrown(fn: () => void): ForbiddenError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ForbiddenError) return error;
    throw error;
  }
  throw new Error("expected a ForbiddenError");
}

describe("authorizeApply", () => {
  it("refuses the whole apply for one document the token may not edit, naming each", () => {
    const docs = parseResources([
      bc("team-b", { name: "app:latest" }),
      bc("default", { name: "app:latest" }),
      grant(["pull"]),
    ]);
    const error = thrown(() => authorizeApply(editor, docs));
    expect(error.message).toBe(
      'token "ci" may not edit BuildConfigs in namespace default (role view)',
    );
    expect(error.details).toEqual([
      { path: "items[1]", message: error.message },
      {
        path: "items[2]",
        message: 'token "ci" may not edit ImageStreamGrants in namespace default (role view)',
      },
    ]);
    expect(() => authorizeApply(editor, [docs[0]!])).not.toThrow();
  });
});

describe("authorizeImageUses", () => {
  const pushToDefault = bc("team-b", { name: "hello:latest", namespace: "default" });
  const registry = "127.0.0.1:15000";

  it("refuses a BuildConfig pushing to another namespace without its grant", () => {
    const error = thrown(() => authorizeImageUses(parseResources([pushToDefault]), [], registry));
    expect(error.details).toEqual([
      {
        path: "items[0].spec.output.to",
        message:
          "BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): no ImageStreamGrant in namespace default gives namespace team-b push",
      },
    ]);
  });

  it("counts the grants as the apply leaves them: stored, added and replaced", () => {
    const stored = [
      {
        namespace: "default",
        name: "team-b",
        spec: { grantee: { namespace: "team-b" }, access: ["push" as const] },
      },
    ];
    expect(() =>
      authorizeImageUses(parseResources([pushToDefault]), stored, registry),
    ).not.toThrow();
    expect(() =>
      authorizeImageUses(parseResources([grant(["push"]), pushToDefault]), [], registry),
    ).not.toThrow();
    // The same apply narrows the stored grant to pull: the push is refused.
    expect(() =>
      authorizeImageUses(parseResources([grant(["pull"]), pushToDefault]), stored, registry),
    ).toThrow(ForbiddenError);
  });
});
