import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../errors.js";
import type { Subject } from "./roles.js";
import {
  authorizeTokenCreation,
  authorizeTokenDeletion,
  TokenRequest,
  visibleToken,
} from "./tokens.js";

const teamAdmin: Subject = {
  name: "lead",
  clusterAdmin: false,
  roles: [
    { namespace: "team-a", role: "admin" },
    { namespace: "team-b", role: "edit" },
  ],
};

describe("token requests", () => {
  it("names each wrong field", () => {
    const parsed = TokenRequest.safeParse({
      name: "Bad_Name",
      roles: [{ namespace: "team-a", role: "owner" }],
    });
    expect(parsed.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      "name: must be a lowercase DNS-1123 subdomain: letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit",
      'roles.0.role: Invalid option: expected one of "admin"|"edit"|"view"',
    ]);
  });

  it("gives a namespace one role", () => {
    const parsed = TokenRequest.safeParse({
      name: "ci",
      roles: [
        { namespace: "team-a", role: "edit" },
        { namespace: "team-a", role: "view" },
      ],
    });
    expect(parsed.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      "roles.1.namespace: team-a is given twice",
    ]);
  });

  it("refuses the bootstrap token's name and a token without any role", () => {
    expect(TokenRequest.safeParse({ name: "bootstrap", roles: [] }).error?.issues).toHaveLength(2);
  });
});

describe("who may manage tokens", () => {
  it("an admin creates tokens with any role in its namespace, and none elsewhere", () => {
    expect(() =>
      authorizeTokenCreation(teamAdmin, [{ namespace: "team-a", role: "admin" }]),
    ).not.toThrow();
    expect(() =>
      authorizeTokenCreation(teamAdmin, [
        { namespace: "team-a", role: "view" },
        { namespace: "team-b", role: "view" },
      ]),
    ).toThrow(
      new ForbiddenError('token "lead" may not edit Tokens in namespace team-b (role edit)'),
    );
  });

  it("a token with a role in a namespace the admin does not run is not the admin's to revoke", () => {
    const shared = {
      roles: [
        { namespace: "team-a", role: "view" as const },
        { namespace: "team-c", role: "view" as const },
      ],
    };
    expect(() => authorizeTokenDeletion(teamAdmin, shared)).toThrow(/namespace team-c/);
    expect(() => authorizeTokenDeletion(teamAdmin, { roles: [shared.roles[0]!] })).not.toThrow();
  });

  it("an admin sees a token's roles in its own namespaces only, and not at all without one", () => {
    const shared = {
      name: "ci",
      roles: [
        { namespace: "team-a", role: "edit" as const },
        { namespace: "team-c", role: "admin" as const },
      ],
    };
    expect(visibleToken(teamAdmin, shared)?.roles).toEqual([{ namespace: "team-a", role: "edit" }]);
    expect(visibleToken(teamAdmin, { ...shared, roles: [shared.roles[1]!] })).toBeNull();
    expect(visibleToken({ name: "b", clusterAdmin: true, roles: [] }, shared)).toBe(shared);
  });
});
