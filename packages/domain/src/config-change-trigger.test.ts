import { describe, expect, it } from "vitest";
import { configChangeBuildRequests, configChangeCause } from "./config-change-trigger.js";
import { parseResource } from "./resources/parse.js";

function buildConfig(name: string, triggers: object[]) {
  return parseResource({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace: "team" },
    spec: { source: { git: { uri: "file:///x" } }, strategy: { type: "Docker" }, triggers },
  });
}

const applied = (name: string, action: "created" | "configured" | "unchanged") => ({
  action,
  namespace: "team",
  name,
  uid: `uid-${name}`,
});

describe("configChangeBuildRequests", () => {
  it("asks for one build of each BuildConfig created with a ConfigChange trigger, keyed by its uid", () => {
    const resources = [
      buildConfig("a", [{ type: "ConfigChange" }]),
      buildConfig("b", [{ type: "ConfigChange" }]),
      buildConfig("c", [{ type: "Generic", generic: { secret: "s" } }]),
      parseResource({
        apiVersion: "kiln.dev/v1",
        kind: "ImageStream",
        metadata: { name: "d", namespace: "team" },
      }),
    ];
    expect(
      configChangeBuildRequests(resources, [
        applied("a", "created"),
        applied("b", "configured"),
        applied("c", "created"),
        applied("d", "created"),
      ]),
    ).toEqual([
      {
        requestId: "config-uid-a",
        namespace: "team",
        buildConfig: "a",
        env: [],
        cause: configChangeCause,
      },
    ]);
  });

  it("builds nothing when a BuildConfig with the trigger is applied again unchanged", () => {
    expect(
      configChangeBuildRequests(
        [buildConfig("a", [{ type: "ConfigChange" }])],
        [applied("a", "unchanged")],
      ),
    ).toEqual([]);
  });
});
