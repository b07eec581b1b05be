import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  busIdentities,
  createBusCredentials,
  createSealingKeyPair,
  type BusCredentials,
  type SealingKeyPair,
} from "@kiln/bus";
import { SecretBox } from "@kiln/db";

/**
 * What `kiln up` keeps besides the database's passwords: every bus identity's NKey seed, the
 * runners' sealing keys, and the key that seals stored secrets.
 */
export type BusSecrets = {
  credentials: BusCredentials;
  sealingKeys: SealingKeyPair;
  secretsKey: string;
  /** What the registry's notifications to the image-watcher carry: its own, not the API token. */
  notificationToken: string;
};

/**
 * Reads the bus secrets from `<stateDir>/secrets`, making what is missing. Made once and kept,
 * so a running Kiln and the state dir agree; the directory and files are the owner's alone.
 */
export async function ensureBusSecrets(stateDir: string): Promise<BusSecrets> {
  const dir = join(stateDir, "secrets");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  const credentialsFile = join(dir, "nats-credentials.json");
  const stored = await readJson<Partial<BusCredentials>>(credentialsFile);
  const fresh = createBusCredentials();
  const credentials = Object.fromEntries(
    busIdentities.map((identity) => [identity, stored?.[identity] ?? fresh[identity]]),
  ) as BusCredentials;
  if (busIdentities.some((identity) => stored?.[identity] !== credentials[identity]))
    await writeSecret(credentialsFile, credentials);

  const keysFile = join(dir, "runner-sealing-keys.json");
  let sealingKeys = await readJson<SealingKeyPair>(keysFile);
  if (!sealingKeys?.publicKey || !sealingKeys.privateKey) {
    sealingKeys = await createSealingKeyPair();
    await writeSecret(keysFile, sealingKeys);
  }
  const keyFile = join(dir, "secrets-key");
  let secretsKey = (await readText(keyFile))?.trim();
  if (!secretsKey) {
    secretsKey = SecretBox.generateKey();
    await writeFile(keyFile, `${secretsKey}\n`, { mode: 0o600 });
    await chmod(keyFile, 0o600);
  }
  const tokenFile = join(dir, "registry-notification-token");
  let notificationToken = (await readText(tokenFile))?.trim();
  if (!notificationToken) {
    notificationToken = randomBytes(32).toString("hex");
    await writeFile(tokenFile, `${notificationToken}\n`, { mode: 0o600 });
    await chmod(tokenFile, 0o600);
  }
  return { credentials, sealingKeys, secretsKey, notificationToken };
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return null;
  }
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return null;
  }
}

async function writeSecret(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}
