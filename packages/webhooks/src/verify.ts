import { createHmac, timingSafeEqual } from "node:crypto";

/** HMAC-SHA256 of the raw body, as lower-case hex (what GitHub, Gitea, Gogs and Bitbucket sign). */
export function hmacSha256Hex(secret: string, body: Uint8Array): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * Compares two strings in time that depends only on their lengths. Both sides are hashed first,
 * so even the length of the expected value does not leak.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHmac("sha256", "kiln-compare").update(a).digest();
  const hb = createHmac("sha256", "kiln-compare").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * Checks a signature header against the body for one secret. `sha256=<hex>` (GitHub's
 * X-Hub-Signature-256, Bitbucket's X-Hub-Signature) or bare hex (Gitea, Gogs), by `format`.
 */
export function signatureMatches(
  signature: string | undefined,
  secret: string,
  body: Uint8Array,
  format: "prefixed" | "bare",
): boolean {
  if (signature === undefined) return false;
  const expected = hmacSha256Hex(secret, body);
  const given =
    format === "prefixed" ? (signature.startsWith("sha256=") ? signature.slice(7) : "") : signature;
  return constantTimeEqual(given.toLowerCase(), expected);
}
