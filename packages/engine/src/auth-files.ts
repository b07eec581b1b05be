import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BuildJob } from "@kiln/domain";

/**
 * Writes the build's registry credentials as buildah `--authfile`s inside its work dir
 * (owner-only, removed with the work dir). Pull and push get separate files so a push secret
 * is never offered to a base-image registry.
 */
export async function writeAuthFiles(
  workDir: string,
  credentials: BuildJob["credentials"],
): Promise<{ pull: string | null; push: string | null }> {
  if (!credentials?.pull && !credentials?.push) return { pull: null, push: null };
  const dir = join(workDir, "auth");
  await mkdir(dir, { mode: 0o700 });
  const write = async (name: string, json: string | undefined) => {
    if (!json) return null;
    const file = join(dir, `${name}.json`);
    await writeFile(file, json, { mode: 0o600 });
    return file;
  };
  return {
    pull: await write("pull", credentials.pull),
    push: await write("push", credentials.push),
  };
}

/** `--authfile FILE` when there is one. */
export function authArgs(file: string | null): string[] {
  return file ? ["--authfile", file] : [];
}
