import { realpath } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { BuildFailure, FailureReason } from "@kiln/domain";

/**
 * `root/path` as the file system resolves it, refused unless it stays inside `root` (after every
 * symlink, not only lexically): a repository whose `contextDir` or Dockerfile is a link to `/`
 * or to another build's work dir must not make it the build's context. A path that does not
 * exist yet is checked through its nearest existing ancestor.
 */
export async function resolveInside(root: string, path: string, what: string): Promise<string> {
  const realRoot = await realpath(root);
  const lexical = resolve(realRoot, `.${sep}${path}`);
  if (!within(realRoot, lexical))
    throw new BuildFailure(FailureReason.InvalidSource, `${what} points outside the source`);
  const missing: string[] = [];
  for (let existing = lexical; ;) {
    let real: string;
    try {
      real = await realpath(existing);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || existing === realRoot) throw error;
      missing.unshift(basename(existing));
      existing = dirname(existing);
      continue;
    }
    if (!within(realRoot, real))
      throw new BuildFailure(
        FailureReason.InvalidSource,
        `${what} leads outside the source through a symlink`,
      );
    return join(real, ...missing);
  }
}

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}
