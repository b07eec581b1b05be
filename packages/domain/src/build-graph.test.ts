import { describe, expect, it } from "vitest";
import { BuildGraph, type GraphBuildConfig } from "./build-graph.js";
import { parseResource } from "./resources/parse.js";

/** A BuildConfig that follows `inputs` (ImageStream tags) and pushes to `output`. */
function bc(name: string, inputs: string[], output: string | null): GraphBuildConfig {
  const r = parseResource({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: "file:///x" } },
      strategy: { type: "Docker" },
      ...(output ? { output: { to: { kind: "ImageStreamTag", name: output } } } : {}),
      triggers: inputs.map((i) => ({
        type: "ImageChange",
        imageChange: { from: { kind: "ImageStreamTag", name: i } },
      })),
    },
  });
  if (r.kind !== "BuildConfig") throw new Error("kind");
  return { namespace: "default", name, spec: r.spec };
}

describe("BuildGraph", () => {
  it("orders a cascade so that a BuildConfig with two changed inputs comes after both", () => {
    // base:latest → s2i → app-s2i:latest → runtime → app:latest; base also → tools → tools:latest → runtime
    const graph = new BuildGraph([
      bc("runtime", ["app-s2i:latest", "tools:latest"], "app:latest"),
      bc("s2i", ["base:latest"], "app-s2i:latest"),
      bc("tools", ["base:latest"], "tools:latest"),
      bc("unrelated", ["other:latest"], null),
    ]);
    expect(graph.findCycle()).toBeNull();
    expect(graph.impact("default/base:latest")).toEqual([
      "default/s2i",
      "default/tools",
      "default/runtime",
    ]);
    expect(graph.impact("default/nothing:latest")).toEqual([]);
    expect(graph.ancestors("default/runtime")).toEqual(["default/s2i", "default/tools"]);
    expect(graph.ancestors("default/s2i")).toEqual([]);
  });

  it("names a cycle", () => {
    const graph = new BuildGraph([
      bc("a", ["b:latest"], "a:latest"),
      bc("b", ["a:latest"], "b:latest"),
    ]);
    expect(graph.findCycle()).toEqual(["default/a", "default/b", "default/a"]);
  });
});
