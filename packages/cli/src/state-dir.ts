import { join, resolve } from "node:path";
import { findRepoRoot } from "./repo-root.js";

/**
 * The state directory of a `kiln up`: the flag, else `.kiln` in the Kiln checkout around `cwd`
 * (or in `cwd` itself outside one). `kiln up` and `kiln status` agree on it, so `kiln status`
 * run where `kiln up` was finds it.
 */
export function resolveStateDir(cwd: string, flag: string | undefined): string {
  return resolve(cwd, flag ?? join(findRepoRoot(cwd) ?? cwd, ".kiln"));
}
