import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { BuildJob, BuildLogSink, BuildRevision } from "@kiln/domain";
import { fetchBinarySource } from "./binary-source.js";
import { fetchGitSource } from "./git-source.js";

export interface FetchSourceOptions {
  /** Largest unpacked binary input. @default 2 GiB */
  maxInputBytes?: number;
  gitBinary?: string;
}

/**
 * The first stage of every build: the source into `<workDir>/src` (which must not exist yet),
 * cloned at the commit asked for or unpacked from the upload; returns the commit it holds. The
 * local engine runs it before the strategy; the `kubernetes` engine's init container runs it on
 * the pod's shared work dir.
 */
export async function fetchSource(
  job: BuildJob,
  workDir: string,
  sink: BuildLogSink,
  signal: AbortSignal,
  options: FetchSourceOptions = {},
): Promise<BuildRevision | null> {
  sink.step("FetchSource");
  const sourceDir = join(workDir, "src");
  const { source, revision: wanted } = job.spec;
  // An upload replaces any git source (as `oc start-build --from-dir` does); a Binary source needs one.
  if (job.spec.binaryInput || source.type === "Binary" || source.binary) {
    const maxBytes = options.maxInputBytes ?? 2 * 1024 ** 3;
    await fetchBinarySource({ job, dir: sourceDir, maxBytes, onLine: (l) => sink.line(l) });
    return null;
  }
  if (!source.git) {
    await mkdir(sourceDir);
    return null;
  }
  sink.line(
    `Cloning ${source.git.uri}${wanted.commit ? ` at ${wanted.commit}` : source.git.ref ? ` (${source.git.ref})` : ""}`,
  );
  const revision = await fetchGitSource({
    uri: source.git.uri,
    ref: source.git.ref,
    commit: wanted.commit,
    dir: sourceDir,
    onLine: (l) => sink.line(l),
    signal,
    ...(options.gitBinary ? { gitBinary: options.gitBinary } : {}),
    proxy: source.git,
  });
  sink.line(`Commit ${revision.commit} (${revision.message}) by ${revision.author}`);
  sink.sourceFetched(revision);
  return revision;
}
