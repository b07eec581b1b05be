import { describe, expect, it } from "vitest";
import { parseResource } from "./resources/parse.js";
import { imageChangeInputs } from "./image-triggers.js";

function spec(strategy: object, triggers: object[]) {
  const r = parseResource({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "app", namespace: "team" },
    spec: { source: { git: { uri: "file:///x" } }, strategy, triggers },
  });
  if (r.kind !== "BuildConfig") throw new Error("kind");
  return r.spec;
}

describe("imageChangeInputs", () => {
  it("follows the strategy's builder image when the trigger names none, as OpenShift does", () => {
    const s = spec(
      {
        type: "Source",
        sourceStrategy: { from: { kind: "ImageStreamTag", name: "builder:latest" } },
      },
      [{ type: "ImageChange" }],
    );
    expect(imageChangeInputs(s, "team")).toEqual([{ key: "team/builder:latest", paused: false }]);
  });
  it("follows an explicit from in another namespace, and keeps paused", () => {
    const s = spec({ type: "Docker" }, [
      {
        type: "ImageChange",
        imageChange: {
          from: { kind: "ImageStreamTag", name: "app-s2i:latest", namespace: "ci" },
          paused: true,
        },
      },
    ]);
    expect(imageChangeInputs(s, "team")).toEqual([{ key: "ci/app-s2i:latest", paused: true }]);
  });
  it("ignores DockerImage references, which Kiln does not watch", () => {
    const s = spec(
      { type: "Docker", dockerStrategy: { from: { kind: "DockerImage", name: "busybox" } } },
      [{ type: "ImageChange" }],
    );
    expect(imageChangeInputs(s, "team")).toEqual([]);
  });
});
