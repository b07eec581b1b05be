import { randomBytes } from "node:crypto";
import { chmod, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import type { BasicCredentials } from "@kiln/registry";

/** Kiln's user in the registry `kiln up` and the test fixtures start. */
const kilnRegistryUser = "kiln";

/**
 * bcrypt's least work factor. The password is 256 random bits, which no work factor makes any
 * easier or harder to guess; distribution checks the hash on every request (each blob of a
 * push), so a higher one would only slow every pull and push down.
 */
const bcryptCost = 4;

/**
 * Writes a file only its owner may read. The mode is set before the content goes in, also on
 * a file left by an earlier run with a wider mode, so the secret is never readable by others.
 */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const handle = await open(file, "w", 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}

/**
 * Kiln's account in its registry: the password in `<dir>/password` (0600), made once and kept,
 * so an auth file or a shell that sourced `kiln up`'s env file keeps working after a restart.
 */
export async function ensureRegistryCredentials(dir: string): Promise<BasicCredentials> {
  const file = join(dir, "password");
  try {
    const existing = (await readFile(file, "utf8")).trim();
    if (existing) {
      await chmod(file, 0o600);
      return { username: kilnRegistryUser, password: existing };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const password = randomBytes(32).toString("hex");
  await writePrivateFile(file, `${password}\n`);
  return { username: kilnRegistryUser, password };
}

/** The registry's htpasswd file (bcrypt, the only scheme distribution accepts), owner-only. */
export async function writeHtpasswd(file: string, credentials: BasicCredentials): Promise<void> {
  const hash = await bcrypt.hash(credentials.password, bcryptCost);
  await writePrivateFile(file, `${credentials.username}:${hash}\n`);
}
