import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Compares bearer tokens in constant time (hashing first makes the lengths equal). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  const given = createHash("sha256").update(header.slice("Bearer ".length)).digest();
  const expected = createHash("sha256").update(token).digest();
  return timingSafeEqual(given, expected);
}

/** Lowercase hex SHA-256: how a created token is stored and looked up. */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/**
 * A new API token: `kiln_` and 256 random bits in base64url. The prefix lets secret scanners
 * and people recognise it; the 256 bits are why one SHA-256 is enough to store it.
 */
export function generateToken(): string {
  return `${kilnTokenPrefix}${randomBytes(32).toString("base64url")}`;
}

export const kilnTokenPrefix = "kiln_";
