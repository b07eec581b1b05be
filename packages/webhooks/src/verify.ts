import { createHmac, timingSafeEqual } from "node:crypto";

/** A hex SHA-256: what a signature header must hold before it is compared at all. */
const sha256Hex = /^[0-9a-f]{64}$/i;

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
 * The HMAC is computed whatever the header holds, so a malformed one costs what a wrong one
 * does. Both sides are 32 bytes, the length of any SHA-256, so their bytes are compared as they
 * are: hashing them again (as `constantTimeEqual` does for strings of any length) would hide
 * nothing more and cost two more HMACs a delivery.
 */
export function signatureMatches(
  signature: string | undefined,
  secret: string,
  body: Uint8Array,
  format: "prefixed" | "bare",
): boolean {
  if (signature === undefined) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  const given =
    format === "prefixed" ? (signature.startsWith("sha256=") ? signature.slice(7) : "") : signature;
  if (!sha256Hex.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, "hex"), expected);
}
