import { describe, expect, it } from "vitest";
import {
  planImageTriggeredBuilds,
  type CascadeState,
  type TriggeredBuildConfig,
} from "./image-change-plan.js";
import type { BuildConfigSpec } from "./resources/build-config.js";

/** A BuildConfig FROM `inputs[0]` with ImageChange triggers on every input, pushing to `<name>:latest`. */
function bc(
  name: string,
  inputs: string[],
  imageTriggers: Record<string, string> = {},
  paused: string[] = [],
): TriggeredBuildConfig {
  const [first, ...others] = inputs;
  return {
    uid: `uid-${name}`,
    namespace: "ns",
    name,
    imageTriggers,
    spec: {
      source: { dockerfile: "FROM x\n" },
      strategy: {
        type: "Docker",
        dockerStrategy: { from: { kind: "ImageStreamTag", name: first! } },
      },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
      triggers: [
        { type: "ImageChange", imageChange: { paused: paused.includes(first!) } },
        ...others.map((o) => ({
          type: "ImageChange",
          imageChange: { from: { kind: "ImageStreamTag", name: o }, paused: paused.includes(o) },
        })),
      ],
    } as unknown as BuildConfigSpec,
  };
}

const image = (digest: string) => ({ digest, imageReference: `r/ns/x@${digest}` });

function state(
  buildConfigs: TriggeredBuildConfig[],
  over: Partial<CascadeState> = {},
): CascadeState {
  return {
    buildConfigs,
    tags: new Map(),
    unfinished: new Set(),
    lastOutputs: new Map(),
    tagHistory: new Set(),
    grants: [],
    ...over,
  };
}

const names = (xs: { buildConfig: { name: string } }[]) => xs.map((x) => x.buildConfig.name);

describe("planImageTriggeredBuilds", () => {
  // base → a, base → b, (a, b) → join
  const diamond = (triggers: Record<string, Record<string, string>> = {}) => [
    bc("a", ["base:latest"], triggers.a),
    bc("b", ["base:latest"], triggers.b),
    bc("join", ["a:latest", "b:latest"], triggers.join),
  ];
  /** The diamond after a and b were set off by base's new digest (join last built from a1, b1), with a and b now at these tags. */
  const afterBase = (aTag: string, bTag: string, over: Partial<CascadeState> = {}) =>
    state(
      diamond({
        a: { "ns/base:latest": "sha256:new" },
        b: { "ns/base:latest": "sha256:new" },
        join: { "ns/a:latest": "sha256:a1", "ns/b:latest": "sha256:b1" },
      }),
      {
        tags: new Map([
          ["ns/base:latest", image("sha256:new")],
          ["ns/a:latest", image(aTag)],
          ["ns/b:latest", image(bTag)],
        ]),
        ...over,
      },
    );

  it("builds the followers of a moved tag, and holds back what is downstream of them", () => {
    const plan = planImageTriggeredBuilds(
      state(
        diamond({
          a: { "ns/base:latest": "sha256:old" },
          b: { "ns/base:latest": "sha256:old" },
          join: { "ns/a:latest": "sha256:a1", "ns/b:latest": "sha256:b1" },
        }),
        {
          tags: new Map([
            ["ns/base:latest", image("sha256:new")],
            ["ns/a:latest", image("sha256:a1")],
            ["ns/b:latest", image("sha256:b1")],
          ]),
        },
      ),
    );
    expect(names(plan.build)).toEqual(["a", "b"]);
    expect(plan.build[0]!.changed).toEqual({ "ns/base:latest": image("sha256:new") });
    expect(plan.deferred).toEqual([]);
  });

  it("a join with one input moved waits while the other input's BuildConfig is still building", () => {
    const plan = planImageTriggeredBuilds(
      afterBase("sha256:a2", "sha256:b1", {
        unfinished: new Set(["ns/b"]),
      }),
    );
    expect(plan.build).toEqual([]);
    expect(plan.deferred.map((d) => [d.buildConfig.name, d.waitingFor])).toEqual([
      ["join", ["ns/b"]],
    ]);
  });

  it("a join builds once, with both inputs, when both are current", () => {
    const plan = planImageTriggeredBuilds(
      afterBase("sha256:a2", "sha256:b2", {
        lastOutputs: new Map([
          ["ns/a", "sha256:a2"],
          ["ns/b", "sha256:b2"],
        ]),
        tagHistory: new Set(["ns/a:latest@sha256:a2", "ns/b:latest@sha256:b2"]),
      }),
    );
    expect(names(plan.build)).toEqual(["join"]);
    expect(Object.keys(plan.build[0]!.changed)).toEqual(["ns/a:latest", "ns/b:latest"]);
  });

  it("waits for a completed build whose image its output tag has not recorded yet", () => {
    const plan = planImageTriggeredBuilds(
      afterBase("sha256:a2", "sha256:b1", {
        // b finished with b2, but b:latest is still at b1: the image-watcher has not moved it yet.
        lastOutputs: new Map([
          ["ns/a", "sha256:a2"],
          ["ns/b", "sha256:b2"],
        ]),
        tagHistory: new Set(["ns/a:latest@sha256:a2"]),
      }),
    );
    expect(plan.build).toEqual([]);
    expect(plan.deferred.map((d) => d.waitingFor)).toEqual([["ns/b"]]);
  });

  it("a completed build that pushed an image its tag already held is no reason to wait", () => {
    const plan = planImageTriggeredBuilds(
      afterBase("sha256:a2", "sha256:b1", {
        lastOutputs: new Map([["ns/b", "sha256:b1"]]),
        tagHistory: new Set(["ns/b:latest@sha256:b1"]),
      }),
    );
    expect(names(plan.build)).toEqual(["join"]);
    expect(Object.keys(plan.build[0]!.changed)).toEqual(["ns/a:latest"]);
  });

  it("waits for a stale BuildConfig further up, not only for direct parents", () => {
    // base → a → mid → leaf, and leaf also follows other:latest, which moved.
    const configs = [
      bc("a", ["base:latest"]),
      bc("mid", ["a:latest"]),
      bc("leaf", ["mid:latest", "other:latest"], { "ns/other:latest": "sha256:o1" }),
    ];
    const plan = planImageTriggeredBuilds(
      state(configs, {
        tags: new Map([
          ["ns/base:latest", image("sha256:new")],
          ["ns/other:latest", image("sha256:o2")],
        ]),
      }),
    );
    expect(names(plan.build)).toEqual(["a"]);
    expect(plan.deferred.map((d) => [d.buildConfig.name, d.waitingFor])).toEqual([
      ["leaf", ["ns/a"]],
    ]);
  });

  it("a paused trigger neither builds nor holds anything back", () => {
    const configs = [
      bc("a", ["base:latest"], {}, ["base:latest"]),
      bc("b", ["a:latest", "other:latest"], { "ns/other:latest": "sha256:o1" }),
    ];
    const plan = planImageTriggeredBuilds(
      state(configs, {
        tags: new Map([
          ["ns/base:latest", image("sha256:new")],
          ["ns/other:latest", image("sha256:o2")],
        ]),
      }),
    );
    expect(names(plan.build)).toEqual(["b"]);
  });

  it("a digest already built from changes nothing", () => {
    const plan = planImageTriggeredBuilds(
      state([bc("a", ["base:latest"], { "ns/base:latest": "sha256:new" })], {
        tags: new Map([["ns/base:latest", image("sha256:new")]]),
      }),
    );
    expect(plan).toEqual({ build: [], deferred: [] });
  });

  describe("across namespaces", () => {
    const follower = (): TriggeredBuildConfig => ({
      ...bc("app", ["base:latest"]),
      namespace: "team-b",
      spec: {
        ...bc("app", ["base:latest"]).spec,
        strategy: {
          type: "Docker",
          dockerStrategy: {
            from: { kind: "ImageStreamTag", name: "base:latest", namespace: "ns" },
          },
        },
      } as BuildConfigSpec,
    });
    const tags = new Map([["ns/base:latest", image("sha256:b2")]]);
    const grant = (access: ("pull" | "push")[]) => ({
      namespace: "ns",
      name: "to-team-b",
      spec: { grantee: { namespace: "team-b" }, access },
    });

    it("does not fire a trigger on another namespace's tag that no grant lets it pull", () => {
      expect(names(planImageTriggeredBuilds(state([follower()], { tags })).build)).toEqual([]);
      expect(
        names(
          planImageTriggeredBuilds(state([follower()], { tags, grants: [grant(["push"])] })).build,
        ),
      ).toEqual([]);
    });

    it("fires it while a pull grant of that namespace stands", () => {
      expect(
        names(
          planImageTriggeredBuilds(state([follower()], { tags, grants: [grant(["pull"])] })).build,
        ),
      ).toEqual(["app"]);
    });
  });
});
