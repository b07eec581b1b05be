import { z } from "zod";
import { namespaceName, subdomainName } from "../names.js";
import {
  AccessResource,
  authorize,
  isAllowed,
  roles,
  Verb,
  type RoleBinding,
  type Subject,
} from "./roles.js";

/** The subject name of API_TOKEN, the bootstrap token `kiln up` generates; no created token may take it. */
export const bootstrapSubjectName = "bootstrap";

/** What `kiln create token` sends (`POST /apis/v1/tokens`). */
export const TokenRequest = z.strictObject({
  name: subdomainName(63).refine(
    (n) => n !== bootstrapSubjectName,
    `${bootstrapSubjectName} is the bootstrap token's`,
  ),
  roles: z
    .array(
      z.strictObject({
        namespace: namespaceName(),
        role: z.enum(roles),
      }),
    )
    .min(1, "at least one namespace and role")
    .superRefine((bindings, ctx) => {
      // One role per namespace: two would leave the reader guessing which one counts.
      const seen = new Set<string>();
      bindings.forEach((b, i) => {
        if (seen.has(b.namespace))
          ctx.addIssue({
            code: "custom",
            path: [i, "namespace"],
            message: `${b.namespace} is given twice`,
          });
        seen.add(b.namespace);
      });
    }),
});
export type TokenRequest = z.output<typeof TokenRequest>;

/** A stored token as an admin sees it (never its secret). */
export interface TokenInfo {
  name: string;
  roles: readonly RoleBinding[];
  createdAt: Date;
  /** The name of the token that created it. */
  createdBy: string;
}

/** Throws unless `caller` administers every namespace the new token gets a role in. */
export function authorizeTokenCreation(caller: Subject, bindings: readonly RoleBinding[]): void {
  for (const { namespace } of bindings)
    authorize(caller, { verb: Verb.Edit, resource: AccessResource.Tokens, namespace });
}

/**
 * Throws unless `caller` administers every namespace `token` has a role in: revoking it ends
 * its access everywhere, so one namespace's admin may not cut off another's.
 */
export function authorizeTokenDeletion(caller: Subject, token: Pick<TokenInfo, "roles">): void {
  for (const { namespace } of token.roles)
    authorize(caller, { verb: Verb.Delete, resource: AccessResource.Tokens, namespace });
}

/**
 * `token` as `caller` may see it: only its roles in namespaces the caller administers, or null
 * when there are none (the token is not listed, and is "not found" to that caller).
 */
export function visibleToken<T extends Pick<TokenInfo, "roles">>(
  caller: Subject,
  token: T,
): T | null {
  if (caller.clusterAdmin) return token;
  const shown = token.roles.filter((b) =>
    isAllowed(caller, { verb: Verb.Read, resource: AccessResource.Tokens, namespace: b.namespace }),
  );
  return shown.length > 0 ? { ...token, roles: shown } : null;
}
