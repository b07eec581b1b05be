import type { EnvVar } from "../resources/common.js";

/**
 * Parses `.s2i/environment` the way s2i does (`pkg/scripts/environment.go`): one `KEY=VALUE` per
 * line, split at the first `=`, both sides trimmed, the value taken literally (no quotes removed,
 * no `$VAR` expanded); lines starting with `#` and lines without `=` are skipped.
 */
export function parseS2IEnvironment(text: string): EnvVar[] {
  const result: EnvVar[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const name = line.slice(0, eq).trim();
    // s2i would pass an empty name on to docker, which refuses it; skip it instead.
    if (!name) continue;
    result.push({ name, value: line.slice(eq + 1).trim() });
  }
  return result;
}

/**
 * Merges environment lists, later lists winning, keeping the position of a variable's first
 * appearance so the Dockerfile reads in a stable order.
 */
export function mergeEnv(...lists: readonly (readonly EnvVar[])[]): EnvVar[] {
  const merged = new Map<string, string>();
  for (const list of lists) for (const e of list) merged.set(e.name, e.value);
  return [...merged].map(([name, value]) => ({ name, value }));
}
