import { asc, eq } from "drizzle-orm";
import { ConflictError, type RoleBinding, type TokenInfo } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { apiTokens } from "./schema.js";

export interface NewApiToken {
  name: string;
  /** Lowercase hex SHA-256 of the token. The token itself never reaches the database. */
  tokenSha256: string;
  roles: readonly RoleBinding[];
  createdBy: string;
}

const infoColumns = {
  name: apiTokens.name,
  roles: apiTokens.roles,
  createdAt: apiTokens.createdAt,
  createdBy: apiTokens.createdBy,
};

/** Stores a token; a name already taken is a ConflictError and stores nothing. */
export async function createApiToken(db: DbOrTx, token: NewApiToken): Promise<TokenInfo> {
  const [row] = await db
    .insert(apiTokens)
    .values({ ...token, roles: [...token.roles] })
    .onConflictDoNothing({ target: apiTokens.name })
    .returning(infoColumns);
  if (!row) throw new ConflictError(`token "${token.name}" already exists`);
  return row;
}

/** The token whose hash this is, or null (unknown, or revoked). */
export async function findApiTokenBySha256(
  db: DbOrTx,
  tokenSha256: string,
): Promise<TokenInfo | null> {
  const [row] = await db
    .select(infoColumns)
    .from(apiTokens)
    .where(eq(apiTokens.tokenSha256, tokenSha256));
  return row ?? null;
}

export async function getApiToken(db: DbOrTx, name: string): Promise<TokenInfo | null> {
  const [row] = await db.select(infoColumns).from(apiTokens).where(eq(apiTokens.name, name));
  return row ?? null;
}

/** Every token, by name, without its hash. */
export async function listApiTokens(db: DbOrTx): Promise<TokenInfo[]> {
  return db.select(infoColumns).from(apiTokens).orderBy(asc(apiTokens.name));
}

/**
 * Revokes a token: the next request that carries it is refused (no cache holds it). Returns
 * whether there was one.
 */
export async function deleteApiToken(db: DbOrTx, name: string): Promise<boolean> {
  const deleted = await db
    .delete(apiTokens)
    .where(eq(apiTokens.name, name))
    .returning({ name: apiTokens.name });
  return deleted.length > 0;
}
