import { randomBytes } from "node:crypto";

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * `length` random lowercase letters and digits: a valid NATS subject token, Postgres identifier
 * part and (uppercased) JetStream stream name.
 */
export function randomToken(length = 10): string {
  const bytes = randomBytes(length);
  let out = "";
  // 256 % 36 bias is irrelevant for unique test names.
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** Bearer token the worker registry sends with its notifications (the image-watcher's, in tests). */
export const registryNotificationToken = "kiln-test-registry-token";
