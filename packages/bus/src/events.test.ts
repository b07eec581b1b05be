import type { BuildSpec } from "@kiln/domain";
import { describe, expect, test } from "vitest";
import { jsonCodec } from "./codec.js";
import { DecodeError, isNonRetryable } from "./errors.js";
import { BuildDispatchedV2, BuildRequestedV1 } from "./events.js";

/** A spec as the scheduler snapshots it: resolved images, a pinned cause, a cross-namespace use. */
const spec: BuildSpec = {
  buildConfig: "app",
  number: 3,
  source: { git: { uri: "https://git.example/app.git", ref: "main" }, contextDir: "web" },
  strategy: {
    type: "Source",
    sourceStrategy: {
      from: { kind: "DockerImage", name: "127.0.0.1:15000/shared/node@sha256:ab" },
      env: [{ name: "NODE_ENV", value: "production" }],
      incremental: true,
    },
  },
  output: {
    image: "127.0.0.1:15000/default/app:latest",
    imageLabels: [{ name: "team", value: "web" }],
  },
  revision: { commit: "0123abcd" },
  credentials: { pushSecret: "push" },
  env: [{ name: "DEBUG", value: "1" }],
  completionDeadlineSeconds: 600,
  resources: { limits: { cpu: "2", memory: "1Gi" }, requests: { cpu: "500m" } },
  nodeSelector: { "kubernetes.io/os": "linux" },
  triggeredBy: [{ type: "ImageChange", message: "Image change", image: "r/shared/node@sha256:ab" }],
  imageStreamUses: [
    {
      namespace: "shared",
      imageStream: "node",
      access: "pull",
      path: "spec.strategy.sourceStrategy.from",
    },
  ],
};

const dispatch = (s: unknown) => ({
  v: 2,
  buildId: "b-1",
  namespace: "default",
  name: "app-3",
  spec: s,
  sealedCredentials: "sealed",
});

const codec = jsonCodec(BuildDispatchedV2);
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decodeError = (value: unknown): DecodeError => {
  try {
    codec.decode(bytes(value), "kiln.build.dispatched.b-1");
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
  throw new Error("decoded");
};

describe("BuildDispatchedV2", () => {
  test("carries a build's spec to the runner unchanged", () => {
    const sent = dispatch(spec) as BuildDispatchedV2;
    expect(codec.decode(codec.encode(sent), "kiln.build.dispatched.b-1")).toEqual(sent);
  });

  test("refuses a malformed spec with an error naming the field, which ends the message (term)", () => {
    const error = decodeError(
      dispatch({ ...spec, strategy: { ...spec.strategy, sourceStrategy: { incremental: "yes" } } }),
    );
    expect(error.message).toContain("spec.strategy.sourceStrategy.from: ");
    expect(error.message).toContain("spec.strategy.sourceStrategy.incremental: ");
    expect(isNonRetryable(error)).toBe(true);
  });

  test("refuses a spec whose cause, env or image use is not one Kiln makes, naming each", () => {
    const error = decodeError(
      dispatch({
        ...spec,
        env: [{ name: "DEBUG" }],
        triggeredBy: [{ type: "Tag", message: "x" }],
        imageStreamUses: [{ ...spec.imageStreamUses![0], access: "delete" }],
      }),
    );
    expect(error.message).toContain("spec.env.0.value: ");
    expect(error.message).toContain("spec.triggeredBy.0.type: ");
    expect(error.message).toContain("spec.imageStreamUses.0.access: ");
  });

  test("refuses a dispatch without a spec, or with the shallow one the old guard let through", () => {
    expect(decodeError({ ...dispatch(spec), spec: undefined }).message).toMatch(/^spec: /);
    expect(decodeError(dispatch({ buildConfig: "app" })).message).toContain("spec.number: ");
  });
});

describe("BuildRequestedV1", () => {
  test("refuses a cause without its message, naming it", () => {
    const parsed = BuildRequestedV1.safeParse({
      v: 1,
      requestId: "r1",
      namespace: "default",
      buildConfig: "app",
      cause: { type: "Manual" },
      requestedAt: new Date(0).toISOString(),
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["cause.message"]);
  });
});
