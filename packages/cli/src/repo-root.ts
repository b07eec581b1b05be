import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The name in the monorepo's root package.json; how the CLI recognises a Kiln checkout. */
const rootPackageName = "kiln";

/** The nearest directory at or above `start` whose package.json is Kiln's root, or null. */
export function findRepoRoot(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name === rootPackageName)
          return dir;
      } catch {
        // A broken package.json elsewhere in the tree is not ours to report.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * The checkout this CLI was loaded from (not the user's cwd): services and the version live
 * there, whichever directory `kiln` is run from.
 */
export function installRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findRepoRoot(here);
  if (!root) throw new Error(`cannot find Kiln's root package.json above ${here}`);
  return root;
}

export function kilnVersion(): string {
  const pkg = JSON.parse(readFileSync(join(installRoot(), "package.json"), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "0.0.0";
}
