import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResource } from "./parse.js";

const b64 = (s: string) => btoa(s);
const dockerConfig = JSON.stringify({ auths: { "registry.example": { auth: b64("ci:pw") } } });

function specOf(doc: Record<string, unknown>) {
  const r = parseResource({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, ...doc });
  if (r.kind !== "Secret") throw new Error("kind");
  return r.spec;
}

function issuesOf(doc: Record<string, unknown>) {
  try {
    specOf(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a ValidationError");
}

describe("Secret documents", () => {
  it("reads OpenShift's webhook Secret: no type is Opaque, data decoded from base64", () => {
    expect(specOf({ data: { WebHookSecretKey: b64("s3cr3t-value") } })).toEqual({
      type: "Opaque",
      data: { WebHookSecretKey: "s3cr3t-value" },
    });
  });

  it("reads type Opaque with stringData, which wins over data for the same key", () => {
    expect(
      specOf({
        type: "Opaque",
        data: { WebHookSecretKey: b64("from-data"), other: b64("kept") },
        stringData: { WebHookSecretKey: "from-stringData" },
      }),
    ).toEqual({ type: "Opaque", data: { WebHookSecretKey: "from-stringData", other: "kept" } });
  });

  it("takes an Opaque Secret without data, as Kubernetes does", () => {
    expect(specOf({ type: "Opaque" })).toEqual({ type: "Opaque", data: {} });
  });

  it("reads a kiln.dev/v1 Opaque Secret too", () => {
    const r = parseResource({
      apiVersion: "kiln.dev/v1",
      kind: "Secret",
      metadata: { name: "hook", namespace: "team" },
      stringData: { WebHookSecretKey: "v" },
    });
    expect(r).toMatchObject({
      metadata: { name: "hook", namespace: "team" },
      spec: { type: "Opaque", data: { WebHookSecretKey: "v" } },
    });
  });

  it("refuses keys Kubernetes refuses, naming each path", () => {
    expect(
      issuesOf({ data: { "bad key": b64("x"), "a/b": b64("y") }, stringData: { "c:d": "z" } }),
    ).toEqual([
      { path: "data.bad key", message: "must consist of alphanumeric characters, '-', '_' or '.'" },
      { path: "data.a/b", message: "must consist of alphanumeric characters, '-', '_' or '.'" },
      {
        path: "stringData.c:d",
        message: "must consist of alphanumeric characters, '-', '_' or '.'",
      },
    ]);
  });

  it("names the path of a value that is not base64, or not text", () => {
    expect(
      issuesOf({
        data: { WebHookSecretKey: "not base64!", short: "abcde", binary: btoa("\xff\xfe") },
      }),
    ).toEqual([
      { path: "data.WebHookSecretKey", message: "must be base64" },
      { path: "data.short", message: "must be base64" },
      {
        path: "data.binary",
        message: "must be base64 of UTF-8 text (Kiln keeps Secret values as text)",
      },
    ]);
  });

  it("refuses any other type, naming the two Kiln uses", () => {
    expect(issuesOf({ type: "kubernetes.io/basic-auth", stringData: { username: "u" } })).toEqual([
      {
        path: "type",
        message:
          "kubernetes.io/basic-auth Secrets are not used by Kiln (use Opaque or kubernetes.io/dockerconfigjson)",
      },
    ]);
  });

  it("reads a kubernetes.io/dockerconfigjson Secret as before, from data or stringData", () => {
    expect(
      specOf({
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": b64(dockerConfig) },
      }),
    ).toEqual({ type: "kubernetes.io/dockerconfigjson", dockerConfigJson: dockerConfig });
    expect(
      specOf({
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": dockerConfig },
      }),
    ).toEqual({ type: "kubernetes.io/dockerconfigjson", dockerConfigJson: dockerConfig });
  });

  it("still refuses a docker config Secret without its key, with bad base64 or without auths", () => {
    const type = "kubernetes.io/dockerconfigjson";
    expect(issuesOf({ type })).toEqual([{ path: "data..dockerconfigjson", message: "required" }]);
    expect(issuesOf({ type, data: { ".dockerconfigjson": "abcde" } })).toEqual([
      { path: "data..dockerconfigjson", message: "must be base64" },
    ]);
    expect(issuesOf({ type, stringData: { ".dockerconfigjson": "{}" } })).toEqual([
      { path: "stringData..dockerconfigjson", message: 'must have an "auths" object' },
    ]);
  });
});
