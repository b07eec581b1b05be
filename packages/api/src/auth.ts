import { createHash, timingSafeEqual } from "node:crypto";

/** Compares bearer tokens in constant time (hashing first makes the lengths equal). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  const given = createHash("sha256").update(header.slice("Bearer ".length)).digest();
  const expected = createHash("sha256").update(token).digest();
  return timingSafeEqual(given, expected);
}
