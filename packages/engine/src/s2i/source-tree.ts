import { chmod, copyFile, cp, lstat, mkdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import {
  BuildFailure,
  FailureReason,
  parseS2IIgnore,
  s2iIgnoreFile,
  s2iScripts,
  sourceEnvironmentFiles,
  sourceScriptDirs,
  type S2IScript,
} from "@kiln/domain";

export interface S2ISourceFacts {
  /** Scripts the source's `.s2i/bin` (or `.sti/bin`) provides. */
  scripts: S2IScript[];
  /** Where they were found, relative to the source, for the log. */
  scriptsDir: string | null;
  /** `.s2i/environment` text, or null. */
  environment: string | null;
  /** `.s2iignore` patterns in effect. */
  ignored: readonly string[];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | null> {
  return (await isFile(path)) ? readFile(path, "utf8") : null;
}

/**
 * Lays out the source the way s2i's `upload/` does: the (context dir of the) source copied to
 * `srcOut` without `.git` and without what `.s2iignore` names, and the source's own scripts
 * copied to `scriptsOut` (uploaded to `<dest>/scripts`). Symlinks are copied as links, never
 * followed, so a link in a repository cannot pull host files into the image.
 */
export async function prepareS2ISource(
  sourceDir: string,
  srcOut: string,
  scriptsOut: string,
): Promise<S2ISourceFacts> {
  try {
    if (!(await lstat(sourceDir)).isDirectory()) throw new Error("not a directory");
  } catch {
    throw new BuildFailure(
      FailureReason.FetchSourceFailed,
      "the source's contextDir is not a directory in the repository",
    );
  }
  const ignore = parseS2IIgnore(await readOptional(join(sourceDir, s2iIgnoreFile)));
  await cp(sourceDir, srcOut, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => {
      const rel = relative(sourceDir, src).split(sep).join("/");
      if (rel === "") return true;
      if (rel === ".git" || rel.startsWith(".git/")) return false;
      return !ignore.ignores(rel);
    },
  });
  await mkdir(srcOut, { recursive: true });

  let scripts: S2IScript[] = [];
  let scriptsDir: string | null = null;
  for (const dir of sourceScriptDirs) {
    const found: S2IScript[] = [];
    for (const name of s2iScripts) if (await isFile(join(sourceDir, dir, name))) found.push(name);
    if (found.length > 0) {
      scripts = found;
      scriptsDir = dir;
      break;
    }
  }
  if (scriptsDir) {
    await mkdir(scriptsOut, { recursive: true });
    for (const name of scripts) {
      const target = join(scriptsOut, name);
      await copyFile(join(sourceDir, scriptsDir, name), target);
      // A script committed without its executable bit still runs, as with s2i's upload.
      await chmod(target, 0o755);
    }
  }
  let environment: string | null = null;
  for (const file of sourceEnvironmentFiles) {
    environment = await readOptional(join(sourceDir, file));
    if (environment !== null) break;
  }
  return { scripts, scriptsDir, environment, ignored: ignore.patterns };
}
