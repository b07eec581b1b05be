import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * Encrypts the secrets Kiln stores (registry credentials, webhook secrets) with a key that is
 * not in the database (`KILN_SECRETS_KEY`: `kiln up` writes it into the state dir, Kubernetes
 * keeps it in a Secret), so a dump of the database alone reveals none of them. AES-256-GCM with
 * a fresh nonce per value; a stored value reads `kiln-sealed:v1:<base64url(nonce|tag|text)>`.
 */
const prefix = "kiln-sealed:v1:";
const nonceBytes = 12;
const tagBytes = 16;

export class SecretKeyError extends Error {
  readonly reason = "InvalidSecretsKey";
  constructor(message: string) {
    super(message);
    this.name = "SecretKeyError";
  }
}

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** From the key as `kiln up` writes it: 32 random bytes, base64. */
  static fromKey(base64: string): SecretBox {
    const key = Buffer.from(base64.trim(), "base64");
    if (key.length !== 32 || key.toString("base64") !== base64.trim())
      throw new SecretKeyError("the secrets key must be 32 bytes in base64 (44 characters)");
    if (key.every((byte) => byte === 0))
      throw new SecretKeyError("the secrets key is the all-zero placeholder: generate one");
    return new SecretBox(key);
  }

  static generateKey(): string {
    return randomBytes(32).toString("base64");
  }

  static isSealed(value: string): boolean {
    return value.startsWith(prefix);
  }

  seal(plaintext: string): string {
    const nonce = randomBytes(nonceBytes);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
    const text = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return prefix + Buffer.concat([nonce, cipher.getAuthTag(), text]).toString("base64url");
  }

  /**
   * The plaintext of a sealed value. A value stored by a Kiln that did not seal yet is returned
   * as it is (`resealStoredSecrets` seals those); a value sealed with another key is refused.
   */
  open(value: string): string {
    if (!SecretBox.isSealed(value)) return value;
    const bytes = Buffer.from(value.slice(prefix.length), "base64url");
    const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, nonceBytes));
    decipher.setAuthTag(bytes.subarray(nonceBytes, nonceBytes + tagBytes));
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(nonceBytes + tagBytes)),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new SecretKeyError(
        "a stored secret does not open with KILN_SECRETS_KEY: it was sealed with another key",
      );
    }
  }
}
