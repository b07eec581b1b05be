import { describe, expect, it } from "vitest";
import {
  AccessResource,
  isAllowed,
  permittedNamespaces,
  refusal,
  Verb,
  type Subject,
} from "./roles.js";

const ci: Subject = {
  name: "ci",
  clusterAdmin: false,
  roles: [
    { namespace: "team-a", role: "edit" },
    { namespace: "team-b", role: "view" },
    { namespace: "team-c", role: "admin" },
  ],
};
const bootstrap: Subject = { name: "bootstrap", clusterAdmin: true, roles: [] };
const at = (namespace: string, verb: Verb, resource: AccessResource = "BuildConfigs") => ({
  verb,
  resource,
  namespace,
});

describe("roles", () => {
  it("view reads everything of its namespace and changes nothing", () => {
    expect(isAllowed(ci, at("team-b", Verb.Read))).toBe(true);
    expect(isAllowed(ci, at("team-b", Verb.Read, "Secrets"))).toBe(true);
    expect(isAllowed(ci, at("team-b", Verb.Read, "ImageStreamGrants"))).toBe(true);
    for (const verb of [Verb.Edit, Verb.Delete, Verb.Start, Verb.Cancel])
      expect(isAllowed(ci, at("team-b", verb, verb === "start" ? "Builds" : "BuildConfigs"))).toBe(
        false,
      );
  });

  it("edit changes resources and runs builds, but not the namespace's grants and tokens", () => {
    expect(isAllowed(ci, at("team-a", Verb.Edit))).toBe(true);
    expect(isAllowed(ci, at("team-a", Verb.Start, "Builds"))).toBe(true);
    expect(isAllowed(ci, at("team-a", Verb.Cancel, "Builds"))).toBe(true);
    expect(isAllowed(ci, at("team-a", Verb.Edit, "ImageStreamGrants"))).toBe(false);
    expect(isAllowed(ci, at("team-a", Verb.Read, "Tokens"))).toBe(false);
  });

  it("admin also manages grants and tokens, only in its own namespace", () => {
    expect(isAllowed(ci, at("team-c", Verb.Edit, "ImageStreamGrants"))).toBe(true);
    expect(isAllowed(ci, at("team-c", Verb.Delete, "Tokens"))).toBe(true);
    expect(isAllowed(ci, at("team-a", Verb.Edit, "Tokens"))).toBe(false);
  });

  it("a namespace without a role is closed, whatever the verb", () => {
    for (const verb of Object.values(Verb)) expect(isAllowed(ci, at("default", verb))).toBe(false);
  });

  it("the bootstrap token may do anything anywhere", () => {
    for (const verb of Object.values(Verb))
      for (const resource of Object.values(AccessResource))
        expect(isAllowed(bootstrap, at("anywhere", verb, resource))).toBe(true);
  });

  it("a refusal names the token, what was refused, where, and the role held there", () => {
    expect(refusal(ci, at("team-b", Verb.Edit))?.message).toBe(
      'token "ci" may not edit BuildConfigs in namespace team-b (role view)',
    );
    expect(refusal(ci, at("default", Verb.Read, "Builds"))?.message).toBe(
      'token "ci" may not read Builds in namespace default (no role there)',
    );
    expect(refusal(ci, at("team-a", Verb.Edit))).toBeNull();
  });

  it("cluster-wide listings are limited to the namespaces the token may read", () => {
    expect([...(permittedNamespaces(ci, Verb.Read, "Deploys") as Set<string>)].sort()).toEqual([
      "team-a",
      "team-b",
      "team-c",
    ]);
    expect([...(permittedNamespaces(ci, Verb.Read, "Tokens") as Set<string>)]).toEqual(["team-c"]);
    expect(permittedNamespaces(bootstrap, Verb.Read, "Deploys")).toBe("all");
  });
});
