import { mayFollowTag, type ImageStreamGrantRule } from "./access/image-access.js";
import { BuildGraph, outputTagKey } from "./build-graph.js";
import { imageChangeInputs } from "./image-triggers.js";
import type { BuildConfigSpec } from "./resources/build-config.js";

/** A BuildConfig with what its ImageChange triggers last fired for. */
export interface TriggeredBuildConfig {
  uid: string;
  namespace: string;
  name: string;
  spec: BuildConfigSpec;
  /** `namespace/imagestream:tag` → the digest that last started a build (lastTriggeredImageID). */
  imageTriggers: Record<string, string>;
}

export interface TagImage {
  digest: string;
  imageReference: string;
}

/** Everything the plan is made from, read at one moment. */
export interface CascadeState {
  buildConfigs: readonly TriggeredBuildConfig[];
  /** Current image of every ImageStream tag, by `namespace/imagestream:tag`. */
  tags: ReadonlyMap<string, TagImage>;
  /** `namespace/name` of the BuildConfigs with a build that has not ended (New, Pending, Running). */
  unfinished: ReadonlySet<string>;
  /** `namespace/name` → digest its newest build completed with and pushed to an ImageStream tag. */
  lastOutputs: ReadonlyMap<string, string>;
  /** `namespace/imagestream:tag@digest` for every digest a tag has ever held. */
  tagHistory: ReadonlySet<string>;
  /** Every ImageStreamGrant: a trigger on another namespace's tag counts only while one allows pull. */
  grants: readonly ImageStreamGrantRule[];
}

export interface PlannedImageBuild {
  buildConfig: TriggeredBuildConfig;
  /** The inputs at a digest the BuildConfig was not built from, sorted by key. */
  changed: Record<string, TagImage>;
}

export interface ImageChangePlan {
  build: PlannedImageBuild[];
  /** Stale BuildConfigs that wait, with (some of) the upstream BuildConfigs they wait for. */
  deferred: { buildConfig: TriggeredBuildConfig; waitingFor: string[] }[];
}

const id = (bc: { namespace: string; name: string }) => `${bc.namespace}/${bc.name}`;

/**
 * Level-based ImageChange triggering over the whole rebuild graph at once. A BuildConfig is
 * stale when an unpaused input is at a digest it was not built from; it builds now only when
 * nothing upstream of it is still moving. Upstream is moving when it
 * - has a build that has not ended,
 * - is stale itself (it will build, and then change this one's input again), or
 * - completed a build whose image its output tag has not recorded yet (the image-watcher is about to move it).
 * So one base-image change rebuilds every BuildConfig downstream once, in dependency order, and
 * a BuildConfig with two changed inputs builds once, after both are current.
 */
export function planImageTriggeredBuilds(state: CascadeState): ImageChangePlan {
  const graph = new BuildGraph(state.buildConfigs);
  const byId = new Map(state.buildConfigs.map((bc) => [id(bc), bc]));
  // Only what a BuildConfig may follow is an input: another namespace's tag without a grant
  // neither sets it off nor holds it back.
  const follows = (bc: TriggeredBuildConfig, key: string) =>
    mayFollowTag(state.grants, bc.namespace, key);
  const upstream = new Map<string, string[]>();
  for (const [from, tos] of graph.downstream) {
    const out = outputTagKey(byId.get(from)!);
    for (const to of tos)
      if (out && follows(byId.get(to)!, out)) upstream.set(to, [...(upstream.get(to) ?? []), from]);
  }

  const changedInputs = new Map<string, Record<string, TagImage>>();
  for (const bc of state.buildConfigs) {
    const changed: Record<string, TagImage> = {};
    for (const input of imageChangeInputs(bc.spec, bc.namespace).sort((a, b) =>
      a.key.localeCompare(b.key),
    )) {
      if (input.paused || !follows(bc, input.key)) continue;
      const current = state.tags.get(input.key);
      if (current && current.digest !== bc.imageTriggers[input.key]) changed[input.key] = current;
    }
    if (Object.keys(changed).length > 0) changedInputs.set(id(bc), changed);
  }

  const moving = (node: string): boolean => {
    if (state.unfinished.has(node) || changedInputs.has(node)) return true;
    const digest = state.lastOutputs.get(node);
    const bc = byId.get(node);
    const out = bc ? outputTagKey(bc) : null;
    return digest !== undefined && out !== null && !state.tagHistory.has(`${out}@${digest}`);
  };
  // Moving BuildConfigs upstream of each node, found once per node (the graph has no cycles).
  const movingUpstream = new Map<string, string[]>();
  const blockersOf = (node: string): string[] => {
    const known = movingUpstream.get(node);
    if (known) return known;
    const found = new Set<string>();
    for (const parent of upstream.get(node) ?? []) {
      if (moving(parent)) found.add(parent);
      for (const b of blockersOf(parent)) found.add(b);
    }
    const list = [...found].sort();
    movingUpstream.set(node, list);
    return list;
  };

  const plan: ImageChangePlan = { build: [], deferred: [] };
  for (const [node, changed] of [...changedInputs].sort(([a], [b]) => a.localeCompare(b))) {
    const buildConfig = byId.get(node)!;
    const waitingFor = blockersOf(node);
    if (waitingFor.length > 0) plan.deferred.push({ buildConfig, waitingFor });
    else plan.build.push({ buildConfig, changed });
  }
  return plan;
}
