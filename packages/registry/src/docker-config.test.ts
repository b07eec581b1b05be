import { describe, expect, test } from "vitest";
import {
  basicCredentialsFor,
  dockerConfigFor,
  withBasicCredentials,
  type DockerConfig,
} from "./docker-config.js";

const kiln = { username: "kiln", password: "s3cret-pw" };
const registry = "127.0.0.1:15000";

describe("withBasicCredentials", () => {
  test("adds the registry to a Secret's config and keeps every other registry's entry", () => {
    const secret = JSON.stringify({
      auths: { "quay.io": { auth: "cXVheTpwdw==" } },
      credHelpers: { "gcr.io": "gcloud" },
    });
    const merged = JSON.parse(withBasicCredentials(secret, registry, kiln)) as DockerConfig & {
      credHelpers: unknown;
    };
    expect(merged.auths?.["quay.io"]).toEqual({ auth: "cXVheTpwdw==" });
    expect(merged.credHelpers).toEqual({ "gcr.io": "gcloud" });
    expect(basicCredentialsFor(merged, registry)).toBe(
      Buffer.from("kiln:s3cret-pw").toString("base64"),
    );
  });

  test("replaces what the Secret held for that registry, scheme-prefixed keys too", () => {
    const secret = JSON.stringify({
      auths: {
        [registry]: { auth: Buffer.from("someone:else").toString("base64") },
        [`http://${registry}`]: { username: "old", password: "old" },
      },
    });
    const merged = JSON.parse(withBasicCredentials(secret, registry, kiln)) as DockerConfig;
    expect(Object.keys(merged.auths ?? {})).toEqual([registry]);
    expect(basicCredentialsFor(merged, registry)).toBe(
      Buffer.from("kiln:s3cret-pw").toString("base64"),
    );
  });

  test("without a Secret, is the registry's own config", () => {
    expect(withBasicCredentials(undefined, registry, kiln)).toBe(dockerConfigFor(registry, kiln));
  });
});
