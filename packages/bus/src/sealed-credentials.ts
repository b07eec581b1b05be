import { compactDecrypt, CompactEncrypt, exportJWK, generateKeyPair, importJWK } from "jose";
import { z } from "zod";

/**
 * A build's registry credentials cross the bus sealed for the runners: a JWE (RFC 7516,
 * ECDH-ES on X25519 with A256GCM) to the runners' public key, which the scheduler holds, bound
 * to one build id through the protected header. Only a holder of the runners' private key
 * reads them, and a sealed value moved onto another build's dispatch is refused. Sealing was
 * chosen over a fetch by the runner because the dispatch already is the one place a build's
 * inputs travel, the runner keeps needing no database and no new endpoint, and the JetStream
 * store on disk then holds no credential in clear either.
 */

const algorithm = { alg: "ECDH-ES", enc: "A256GCM" } as const;
const buildHeader = "kiln.build";

/**
 * The credentials of one build: docker config JSON for pulls and for the push, and the values
 * its env reads from Secrets (`valueFrom.secretKeyRef`: Secret name → key → value), sealed the
 * same way so that they too are never on the bus or in its store in clear.
 */
export const RegistryCredentials = z.object({
  pull: z.string().optional(),
  push: z.string().optional(),
  secretEnv: z.record(z.string(), z.record(z.string(), z.string())).optional(),
});
export type RegistryCredentials = z.output<typeof RegistryCredentials>;

/** A key of the pair as one line of JSON (a JWK), the form it is given in (env, Secret). */
export type SealingKeyPair = { publicKey: string; privateKey: string };

export class CredentialsSealError extends Error {
  readonly reason = "CredentialsUnsealable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CredentialsSealError";
  }
}

/** A fresh X25519 key pair for sealing to the runners. */
export async function createSealingKeyPair(): Promise<SealingKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(algorithm.alg, {
    crv: "X25519",
    extractable: true,
  });
  return {
    publicKey: JSON.stringify(await exportJWK(publicKey)),
    privateKey: JSON.stringify(await exportJWK(privateKey)),
  };
}

async function importKey(jwk: string, what: "public" | "private") {
  try {
    const parsed = JSON.parse(jwk) as Record<string, unknown>;
    if (parsed.kty !== "OKP" || parsed.crv !== "X25519" || (what === "private") !== "d" in parsed)
      throw new Error(`not an X25519 ${what} key`);
    return await importJWK(parsed, algorithm.alg);
  } catch (error) {
    throw new CredentialsSealError(`the runners' ${what} sealing key is not an X25519 JWK`, {
      cause: error,
    });
  }
}

/** Seals `credentials` for the runners, for build `buildId` only. */
export async function sealCredentials(
  publicKey: string,
  buildId: string,
  credentials: RegistryCredentials,
): Promise<string> {
  const key = await importKey(publicKey, "public");
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(credentials)))
    .setProtectedHeader({ ...algorithm, [buildHeader]: buildId })
    .encrypt(key);
}

/** Opens what `sealCredentials` sealed for `buildId`; refuses another key or another build's. */
export async function unsealCredentials(
  privateKey: string,
  buildId: string,
  sealed: string,
): Promise<RegistryCredentials> {
  const key = await importKey(privateKey, "private");
  let opened: Awaited<ReturnType<typeof compactDecrypt>>;
  try {
    opened = await compactDecrypt(sealed, key, {
      keyManagementAlgorithms: [algorithm.alg],
      contentEncryptionAlgorithms: [algorithm.enc],
    });
  } catch (error) {
    throw new CredentialsSealError(
      "the build's registry credentials cannot be opened with this runner's key (sealed for other runners?)",
      { cause: error },
    );
  }
  if (opened.protectedHeader[buildHeader] !== buildId)
    throw new CredentialsSealError(
      `the registry credentials on this dispatch were sealed for another build, not ${buildId}`,
    );
  return RegistryCredentials.parse(JSON.parse(new TextDecoder().decode(opened.plaintext)));
}
