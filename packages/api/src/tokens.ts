import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { createApiToken, deleteApiToken, getApiToken, listApiTokens, type Db } from "@kiln/db";
import {
  authorizeTokenCreation,
  authorizeTokenDeletion,
  issuesFromZod,
  kilnApiVersion,
  TokenRequest,
  ValidationError,
  visibleToken,
  type TokenInfo,
} from "@kiln/domain";
import { subjectFor } from "./access.js";
import { generateToken, sha256Hex } from "./auth.js";
import { TokenNotFoundError } from "./errors.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** A token in the wire shape of docs/api.md; never its secret. */
function toTokenJson(token: TokenInfo): Record<string, unknown> {
  return {
    apiVersion: kilnApiVersion,
    kind: "Token",
    metadata: { name: token.name, creationTimestamp: token.createdAt.toISOString() },
    roles: token.roles,
    createdBy: token.createdBy,
  };
}

const byNamespaces = { handler: true, why: "a token's roles name its namespaces" } as const;

/**
 * `kiln create token`, `kiln get tokens`, `kiln delete token`. Tokens have no namespace: a
 * token is managed by the admins of the namespaces it has roles in, and each admin sees only
 * its own namespaces' roles. The token itself is in the answer to its creation, and nowhere
 * else: not in the database (its SHA-256 is), not in a log line, not in a listing.
 */
export function registerTokenRoutes(app: App, options: { db: Db }): void {
  const { db } = options;

  app.post("/apis/v1/tokens", { config: { access: byNamespaces } }, async (request, reply) => {
    const parsed = TokenRequest.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
    const caller = await subjectFor(
      request,
      parsed.data.roles.map((r) => r.namespace),
    );
    authorizeTokenCreation(caller, parsed.data.roles);
    const token = generateToken();
    const created = await createApiToken(db, {
      name: parsed.data.name,
      tokenSha256: sha256Hex(token),
      roles: parsed.data.roles,
      createdBy: caller.name,
    });
    request.log.info(
      { tokenName: created.name, roles: created.roles, createdBy: caller.name },
      "token created",
    );
    return reply.status(201).send({ ...toTokenJson(created), token });
  });

  app.get("/apis/v1/tokens", { config: { access: byNamespaces } }, async (request) => {
    const caller = await subjectFor(request, "known");
    const items = (await listApiTokens(db)).flatMap((t) => {
      const shown = visibleToken(caller, t);
      return shown ? [toTokenJson(shown)] : [];
    });
    return { apiVersion: kilnApiVersion, kind: "TokenList", items };
  });

  app.delete<{ Params: { name: string } }>(
    "/apis/v1/tokens/:name",
    { config: { access: byNamespaces } },
    async (request) => {
      const { name } = request.params;
      const token = await getApiToken(db, name);
      const caller = await subjectFor(
        request,
        (token?.roles ?? []).map((r) => r.namespace),
      );
      // A token the caller administers no namespace of is not found: its name is not theirs to learn.
      if (!token || !visibleToken(caller, token)) throw new TokenNotFoundError(name);
      authorizeTokenDeletion(caller, token);
      if (!(await deleteApiToken(db, name))) throw new TokenNotFoundError(name);
      request.log.info({ tokenName: name, deletedBy: caller.name }, "token deleted");
      return { deleted: { kind: "Token", name } };
    },
  );
}
