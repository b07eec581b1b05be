import { describe, expect, it } from "vitest";
import { parseResource } from "../resources/parse.js";
import type { BuildConfigSpec } from "../resources/build-config.js";
import {
  deniedUses,
  describeDeniedUse,
  imageStreamUses,
  mayFollowTag,
  type ImageStreamGrantRule,
} from "./image-access.js";

const registry = "127.0.0.1:15000";

function spec(over: Record<string, unknown>): BuildConfigSpec {
  const r = parseResource({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "app", namespace: "team-b" },
    spec: { source: { git: { uri: "file:///x" } }, strategy: { type: "Docker" }, ...over },
  });
  if (r.kind !== "BuildConfig") throw new Error("kind");
  return r.spec;
}
const push = (name: string) => spec({ output: { to: { kind: "DockerImage", name } } });
const grant = (
  namespace: string,
  access: ("pull" | "push")[],
  imageStreams?: string[],
): ImageStreamGrantRule => ({
  namespace,
  name: "g",
  spec: { grantee: { namespace: "team-b" }, access, ...(imageStreams ? { imageStreams } : {}) },
});

describe("imageStreamUses", () => {
  it("counts the output, the strategy's images, image sources and trigger sources", () => {
    const uses = imageStreamUses(
      spec({
        source: {
          git: { uri: "file:///x" },
          images: [
            {
              from: { kind: "ImageStreamImage", name: "assets@sha256:ab", namespace: "shared" },
              paths: [{ sourcePath: "/a", destinationDir: "a" }],
            },
          ],
        },
        strategy: {
          type: "Source",
          sourceStrategy: { from: { kind: "ImageStreamTag", name: "builder:1", namespace: "ci" } },
        },
        output: { to: { kind: "ImageStreamTag", name: "hello:latest", namespace: "default" } },
        triggers: [
          {
            type: "ImageChange",
            imageChange: { from: { kind: "ImageStreamTag", name: "own:latest" } },
          },
        ],
      }),
      "team-b",
      registry,
    );
    expect(uses.map((u) => `${u.access} ${u.namespace}/${u.imageStream} ${u.path}`)).toEqual([
      "push default/hello spec.output.to",
      "pull ci/builder spec.strategy.sourceStrategy.from",
      "pull shared/assets spec.source.images[0].from",
      "pull team-b/own spec.triggers[0].imageChange.from",
    ]);
  });

  it("reads a DockerImage output in Kiln's registry, under any loopback name, as a push to that namespace", () => {
    for (const name of [
      `${registry}/default/hello:latest`,
      "localhost:15000/default/hello",
      "127.0.0.2:15000/default/hello@sha256:00",
      "0.0.0.0:15000/default/hello",
    ])
      expect(imageStreamUses(push(name), "team-b", registry)).toEqual([
        { namespace: "default", imageStream: "hello", access: "push", path: "spec.output.to" },
      ]);
    for (const name of ["127.0.0.1:5000/default/hello", "quay.io/default/hello", "busybox"])
      expect(imageStreamUses(push(name), "team-b", registry)).toEqual([]);
  });
});

describe("grants", () => {
  const uses = imageStreamUses(
    spec({
      strategy: {
        type: "Docker",
        dockerStrategy: { from: { kind: "ImageStreamTag", name: "base:1", namespace: "default" } },
      },
      output: { to: { kind: "ImageStreamTag", name: "hello:latest", namespace: "default" } },
    }),
    "team-b",
    registry,
  );

  it("allows only what a grant of the other namespace gives the BuildConfig's own namespace", () => {
    expect(deniedUses(uses, [], "team-b").map((u) => u.access)).toEqual(["push", "pull"]);
    expect(deniedUses(uses, [grant("default", ["pull"])], "team-b").map((u) => u.access)).toEqual([
      "push",
    ]);
    expect(deniedUses(uses, [grant("default", ["pull", "push"])], "team-b")).toEqual([]);
    // A grant of another namespace, or to another grantee, is no grant.
    expect(deniedUses(uses, [grant("elsewhere", ["pull", "push"])], "team-b")).toHaveLength(2);
    expect(deniedUses(uses, [grant("default", ["pull", "push"])], "team-c")).toHaveLength(2);
  });

  it("a grant to * gives every namespace what it says", () => {
    const shared = {
      ...grant("default", ["pull"]),
      spec: { grantee: { namespace: "*" }, access: ["pull" as const] },
    };
    expect(deniedUses(uses, [shared], "team-b").map((u) => u.access)).toEqual(["push"]);
    expect(deniedUses(uses, [shared], "team-c").map((u) => u.access)).toEqual(["push"]);
  });

  it("a grant listing ImageStreams covers those only", () => {
    expect(
      deniedUses(uses, [grant("default", ["pull", "push"], ["base"])], "team-b").map(
        (u) => u.imageStream,
      ),
    ).toEqual(["hello"]);
  });

  it("says which BuildConfig may not do what, where, and why", () => {
    expect(describeDeniedUse({ namespace: "team-b", name: "app" }, uses[0]!)).toBe(
      "BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): no ImageStreamGrant in namespace default gives namespace team-b push",
    );
  });

  it("lets a trigger follow its own namespace's tags, and another's only with pull", () => {
    expect(mayFollowTag([], "team-b", "team-b/base:latest")).toBe(true);
    expect(mayFollowTag([], "team-b", "default/base:latest")).toBe(false);
    expect(mayFollowTag([grant("default", ["pull"])], "team-b", "default/base:latest")).toBe(true);
  });
});
