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

  test("keeps what a Secret chose for that registry, bare or under a scheme-prefixed key", () => {
    for (const key of [registry, `http://${registry}`]) {
      const secret = JSON.stringify({
        auths: { [key]: { auth: Buffer.from("team-robot:pw").toString("base64") } },
      });
      expect(withBasicCredentials(secret, registry, kiln)).toBe(secret);
    }
  });

  test("without a Secret, is the registry's own config", () => {
    expect(withBasicCredentials(undefined, registry, kiln)).toBe(dockerConfigFor(registry, kiln));
  });
});
