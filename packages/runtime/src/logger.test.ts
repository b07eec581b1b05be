import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  checkRegistryCredentials,
  loadConfig,
  registryCredentialsOf,
  registryCredentialsShape,
} from "./config.js";
import { createLogger } from "./logger.js";

/** What a logger wrote, as text. */
function capture() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  return {
    logger: createLogger({ service: "t", destination: stream }),
    text: () => chunks.join(""),
  };
}

describe("registry credentials in logs", () => {
  it("never writes Kiln's registry password, a basic-auth string or a build's docker configs", () => {
    const { logger, text } = capture();
    const password = "pw-0f9e8d7c-never-logged";
    const basic = Buffer.from(`kiln:${password}`).toString("base64");
    logger.info({ config: { KILN_REGISTRY_PASSWORD: password } }, "started");
    logger.info({ KILN_REGISTRY_PASSWORD: password }, "env");
    logger.warn({ repo: { host: "r", repository: "a/b", basicAuth: basic } }, "refused");
    logger.warn({ job: { credentials: { push: `{"auths":{"r":{"auth":"${basic}"}}}` } } }, "job");
    logger.info({ registry: { username: "kiln", password } }, "account");
    expect(text()).not.toContain(password);
    expect(text()).not.toContain(basic);
    expect(text()).toContain("[redacted]");
  });
});

describe("registryCredentialsShape", () => {
  const schema = z.object(registryCredentialsShape).superRefine(checkRegistryCredentials);

  it("takes both or neither, and names the missing one", () => {
    expect(registryCredentialsOf(loadConfig(schema, {}))).toBeUndefined();
    expect(
      registryCredentialsOf(
        loadConfig(schema, { KILN_REGISTRY_USERNAME: "kiln", KILN_REGISTRY_PASSWORD: "pw" }),
      ),
    ).toEqual({ username: "kiln", password: "pw" });
    expect(() => loadConfig(schema, { KILN_REGISTRY_USERNAME: "kiln" })).toThrow(
      /KILN_REGISTRY_PASSWORD: required with KILN_REGISTRY_USERNAME/,
    );
    expect(() => loadConfig(schema, { KILN_REGISTRY_PASSWORD: "pw" })).toThrow(
      /KILN_REGISTRY_USERNAME: required with/,
    );
  });

  it("refuses a user name basic auth cannot carry, without echoing the password", () => {
    let error: Error | undefined;
    try {
      loadConfig(schema, { KILN_REGISTRY_USERNAME: "a:b", KILN_REGISTRY_PASSWORD: "pw-secret" });
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(/KILN_REGISTRY_USERNAME: must be a user name/);
    expect(error?.message).not.toContain("pw-secret");
  });
});
