import { describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { pairRoles } from "./create-token.js";

describe("pairRoles", () => {
  it("pairs each namespace with the role in the same place", () => {
    expect(pairRoles({ namespace: ["team-a", "team-b"], role: ["edit", "view"] })).toEqual([
      { namespace: "team-a", role: "edit" },
      { namespace: "team-b", role: "view" },
    ]);
  });

  it("refuses a namespace without its role, and a token without any", () => {
    expect(() => pairRoles({ namespace: ["team-a", "team-b"], role: ["edit"] })).toThrow(
      new UsageError("give one --role for each --namespace, in order (2 namespaces, 1 role)"),
    );
    expect(() => pairRoles({ namespace: [], role: [] })).toThrow(UsageError);
  });
});
