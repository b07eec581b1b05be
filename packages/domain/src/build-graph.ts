import { imageChangeInputs, imageStreamTagKey } from "./image-triggers.js";
import type { BuildConfigSpec } from "./resources/build-config.js";

/** A BuildConfig as the rebuild graph sees it. */
export interface GraphBuildConfig {
  namespace: string;
  name: string;
  spec: BuildConfigSpec;
}

/** `namespace/name` of a BuildConfig. */
const id = (bc: GraphBuildConfig) => `${bc.namespace}/${bc.name}`;

/** The ImageStream tag a BuildConfig pushes to, as `namespace/imagestream:tag`, or null. */
export function outputTagKey(bc: GraphBuildConfig): string | null {
  const to = bc.spec.output.to;
  return to?.kind === "ImageStreamTag"
    ? imageStreamTagKey(to.namespace ?? bc.namespace, to.name)
    : null;
}

/**
 * Chained builds as a graph: an edge A → B when B has an (unpaused) ImageChange trigger on the
 * tag A pushes. Kiln refuses a cycle at apply time, since a cycle would rebuild for ever.
 */
export class BuildGraph {
  /** BuildConfig id → ids of the BuildConfigs its output sets off. */
  readonly downstream = new Map<string, string[]>();
  /** ImageStream tag key → ids of the BuildConfigs following it. */
  readonly followers = new Map<string, string[]>();

  constructor(readonly buildConfigs: readonly GraphBuildConfig[]) {
    for (const bc of buildConfigs) {
      for (const input of imageChangeInputs(bc.spec, bc.namespace)) {
        if (input.paused) continue;
        this.followers.set(input.key, [...(this.followers.get(input.key) ?? []), id(bc)]);
      }
    }
    for (const bc of buildConfigs) {
      const out = outputTagKey(bc);
      this.downstream.set(id(bc), out ? [...(this.followers.get(out) ?? [])].sort() : []);
    }
  }

  /** Every BuildConfig upstream of `node` (whose output, directly or through others, it follows). */
  ancestors(node: string): string[] {
    const upstream = new Map<string, string[]>();
    for (const [from, tos] of this.downstream)
      for (const to of tos) upstream.set(to, [...(upstream.get(to) ?? []), from]);
    const found = new Set<string>();
    const walk = (n: string) => {
      for (const up of upstream.get(n) ?? []) {
        if (found.has(up)) continue;
        found.add(up);
        walk(up);
      }
    };
    walk(node);
    return [...found].sort();
  }

  /** The first cycle found, as `a → b → a` ids, or null. */
  findCycle(): string[] | null {
    const state = new Map<string, "visiting" | "done">();
    const path: string[] = [];
    const visit = (node: string): string[] | null => {
      if (state.get(node) === "done") return null;
      if (state.get(node) === "visiting") return [...path.slice(path.indexOf(node)), node];
      state.set(node, "visiting");
      path.push(node);
      for (const next of this.downstream.get(node) ?? []) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
      path.pop();
      state.set(node, "done");
      return null;
    };
    for (const node of [...this.downstream.keys()].sort()) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
    return null;
  }

  /**
   * What a change of `tagKey` would rebuild, in an order where every BuildConfig comes after
   * all the BuildConfigs it depends on within the cascade (each exactly once).
   */
  impact(tagKey: string): string[] {
    const reached = new Set<string>();
    const walk = (node: string) => {
      if (reached.has(node)) return;
      reached.add(node);
      for (const next of this.downstream.get(node) ?? []) walk(next);
    };
    for (const start of this.followers.get(tagKey) ?? []) walk(start);
    // Kahn's algorithm over the reached part, ties broken by name for a stable order.
    const indegree = new Map([...reached].map((n) => [n, 0]));
    for (const n of reached)
      for (const next of this.downstream.get(n) ?? [])
        if (reached.has(next)) indegree.set(next, (indegree.get(next) ?? 0) + 1);
    const ready = [...reached].filter((n) => indegree.get(n) === 0).sort();
    const order: string[] = [];
    while (ready.length > 0) {
      const n = ready.shift()!;
      order.push(n);
      for (const next of this.downstream.get(n) ?? []) {
        if (!reached.has(next)) continue;
        indegree.set(next, indegree.get(next)! - 1);
        if (indegree.get(next) === 0) {
          ready.push(next);
          ready.sort();
        }
      }
    }
    return order;
  }
}
