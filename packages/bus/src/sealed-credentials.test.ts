import { describe, expect, test } from "vitest";
import {
  createSealingKeyPair,
  CredentialsSealError,
  sealCredentials,
  unsealCredentials,
} from "./sealed-credentials.js";

const credentials = { pull: '{"auths":{"r":{"auth":"cHVsbDpzZWNyZXQ="}}}', push: "{}" };

describe("sealed registry credentials", () => {
  test("open with the runners' key for the build they were sealed for, and show nothing in clear", async () => {
    const keys = await createSealingKeyPair();
    const sealed = await sealCredentials(keys.publicKey, "build-1", credentials);
    expect(sealed).not.toContain("cHVsbDpzZWNyZXQ");
    expect(Buffer.from(sealed.split(".").join(""), "base64url").toString("latin1")).not.toContain(
      "cHVsbDpzZWNyZXQ",
    );
    expect(await unsealCredentials(keys.privateKey, "build-1", sealed)).toEqual(credentials);
  });

  test("are refused with another key pair's private key", async () => {
    const keys = await createSealingKeyPair();
    const other = await createSealingKeyPair();
    const sealed = await sealCredentials(keys.publicKey, "build-1", credentials);
    await expect(unsealCredentials(other.privateKey, "build-1", sealed)).rejects.toBeInstanceOf(
      CredentialsSealError,
    );
  });

  test("are refused on another build's dispatch", async () => {
    const keys = await createSealingKeyPair();
    const sealed = await sealCredentials(keys.publicKey, "build-1", credentials);
    await expect(unsealCredentials(keys.privateKey, "build-2", sealed)).rejects.toThrow(
      /sealed for another build, not build-2/,
    );
  });

  test("a public key where the private one belongs is refused by name", async () => {
    const keys = await createSealingKeyPair();
    const sealed = await sealCredentials(keys.publicKey, "b", credentials);
    await expect(unsealCredentials(keys.publicKey, "b", sealed)).rejects.toThrow(
      "the runners' private sealing key is not an X25519 JWK",
    );
  });
});
