import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";

export interface CreateTokenOptions {
  /** Repeatable; the i-th goes with the i-th `--role`. */
  namespace: string[];
  role: string[];
}

/**
 * `kiln create token NAME -n NS --role ROLE [-n NS --role ROLE]…`: pairs in order, like
 * `oc policy add-role-to-user ROLE -n NS` once per namespace. The token goes to stdout alone
 * (`TOKEN=$(kiln create token …)`), the note to stderr: it is never shown again.
 */
export async function createTokenCommand(
  ctx: CommandContext,
  name: string,
  options: CreateTokenOptions,
): Promise<void> {
  const roles = pairRoles(options);
  const created = await ctx.client().createToken(name, roles);
  ctx.out(`${created.token}\n`);
  const given = (created.roles ?? roles).map((r) => `${r.role} in ${r.namespace}`).join(", ");
  ctx.err(
    `token "${created.metadata.name}" created (${given}); it is shown this once: keep it now (KILN_TOKEN)\n`,
  );
}

/** Pairs each `--namespace` with the `--role` in the same position. */
export function pairRoles(options: CreateTokenOptions): { namespace: string; role: string }[] {
  const { namespace, role } = options;
  if (namespace.length === 0)
    throw new UsageError("a token needs at least one --namespace NS --role ROLE pair");
  if (namespace.length !== role.length)
    throw new UsageError(
      `give one --role for each --namespace, in order (${namespace.length} namespace${namespace.length > 1 ? "s" : ""}, ${role.length} role${role.length === 1 ? "" : "s"})`,
    );
  return namespace.map((ns, i) => ({ namespace: ns, role: role[i]! }));
}
