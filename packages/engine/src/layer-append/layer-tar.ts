import { createHash } from "node:crypto";
import { lstat, open, readdir, readFile, readlink } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { promisify } from "node:util";
import { deflateRawSync, gzip as gzipCallback } from "node:zlib";
import { pack } from "tar-stream";
import { resolveInside } from "../source-paths.js";
import type { BaseTree } from "./base-tree.js";
import { FastPathRefused } from "./errors.js";
import type { Owner } from "./plan.js";
import type { ResolvedCopy } from "./resolve.js";

const gzip = promisify(gzipCallback);

interface LayerEntry {
  type: "directory" | "file" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  /** A file's content. */
  content?: Buffer;
  linkname?: string;
}

export interface LayerInput {
  contextDir: string;
  copies: readonly ResolvedCopy[];
  workdirs: readonly string[];
  base: BaseTree;
  /** Every entry's mtime: the commit's date or the upload's time, so the same input makes the same layer. */
  mtime: Date;
}

export interface WrittenLayer {
  /** The uncompressed tar (its digest is the config's diff_id). */
  tar: Buffer;
  diffId: string;
  gzipped: Buffer;
  digest: string;
  /** Per copy, what buildah's history says it copied: `file:<hex>`, `dir:<hex>` or `multi:<hex>`. */
  copySummaries: string[];
}

const root: Owner = { uid: 0, gid: 0 };

/**
 * The one layer a layer-append build adds, as buildah's COPY/ADD would leave the files: the
 * sources' modes (or --chmod), owner root (or --chown), directories the base lacks created 0755
 * with the COPY's owner, those it has left alone, WORKDIRs created. Entries sorted by path,
 * every mtime the same: the same context gives the same bytes. Throws `FastPathRefused` for
 * what it cannot do as buildah would (an archive ADD unpacks, a path through a base symlink).
 */
export async function writeLayer(input: LayerInput): Promise<WrittenLayer> {
  const entries = new Map<string, LayerEntry>();
  const isDir = (path: string) =>
    entries.get(path)?.type === "directory" ||
    (!entries.has(path) && input.base.get(path) === "dir");
  /** Creates what is missing of `dir` (and its parents) as buildah does. */
  const ensureDir = (dir: string, owner: Owner) => {
    if (dir === "") return;
    ensureDir(parentOf(dir), owner);
    const ours = entries.get(dir);
    if (ours) {
      if (ours.type !== "directory") throw new FastPathRefused(`/${dir} is a file and a directory`);
      return;
    }
    const inBase = input.base.get(dir);
    if (inBase === "dir") return;
    if (inBase === "symlink") throw new FastPathRefused(`/${dir} is a symlink in the base`);
    if (inBase) throw new FastPathRefused(`/${dir} is a file in the base`);
    entries.set(dir, { type: "directory", mode: 0o755, ...owner });
  };
  const place = (path: string, entry: LayerEntry) => {
    const inBase = input.base.get(path);
    if (inBase === "symlink" || (inBase === "dir" && entry.type !== "directory"))
      throw new FastPathRefused(`/${path} is a ${inBase} in the base`);
    entries.set(path, entry);
  };
  const summaries: string[] = [];

  for (const copy of input.copies) {
    const owner = copy.owner ?? root;
    const destination = copy.destination.replace(/^\/+/, "").replace(/\/+$/, "");
    const hash = createHash("sha256");
    let kind = copy.sources.length > 1 ? "multi" : "file";
    for (const source of copy.sources) {
      const path = await resolveInside(
        input.contextDir,
        source,
        `${copy.keyword} source ${source}`,
      );
      const stat = await lstat(path).catch(() => null);
      if (!stat) throw new FastPathRefused(`${copy.keyword} source ${source} does not exist`);
      if (stat.isSymbolicLink())
        throw new FastPathRefused(`${copy.keyword} source ${source} is a symlink`);
      if (stat.isDirectory()) {
        if (copy.sources.length === 1) kind = "dir";
        ensureDir(destination, owner);
        await copyTree(path, destination, copy, owner, place, hash);
      } else if (stat.isFile()) {
        if (copy.keyword === "ADD" && (await looksLikeArchive(path)))
          throw new FastPathRefused(`ADD ${source} is an archive, which ADD unpacks`);
        const target =
          copy.intoDirectory || isDir(destination)
            ? posix.join(destination, basename(path))
            : destination;
        ensureDir(parentOf(target), owner);
        const content = await readFile(path);
        const entry: LayerEntry = {
          type: "file",
          mode: copy.mode ?? stat.mode & 0o7777,
          ...owner,
          content,
        };
        place(target, entry);
        hash.update(`${target}\0${entry.mode}\0${digestOf(content)}\n`);
      } else
        throw new FastPathRefused(`${copy.keyword} source ${source} is not a file or directory`);
    }
    summaries.push(`${kind}:${hash.digest("hex")}`);
  }
  for (const workdir of input.workdirs)
    ensureDir(workdir.replace(/^\/+/, "").replace(/\/+$/, ""), root);

  const tar = await tarOf(entries, input.mtime);
  // 1 MiB output buffers: at zlib's 16 KiB a 20 MiB layer is 1,280 thread-pool round trips, each
  // waiting for a turn of the event loop (60-150 ms stored, against 20 ms). Its stored blocks'
  // sizes follow the buffer, so this number is part of what makes the same input the same digest.
  const gzipped = await gzip(tar, { level: compressionLevel(tar), chunkSize: 1 << 20 });
  return {
    tar,
    diffId: sha256(tar),
    gzipped,
    digest: sha256(gzipped),
    copySummaries: summaries,
  };
}

/** A directory's contents below `destination`, recursively, each with the COPY's owner and (if any) --chmod. */
async function copyTree(
  dir: string,
  destination: string,
  copy: ResolvedCopy,
  owner: Owner,
  place: (path: string, entry: LayerEntry) => void,
  hash: ReturnType<typeof createHash>,
): Promise<void> {
  const children = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const child of children) {
    const path = join(dir, child.name);
    const target = destination ? `${destination}/${child.name}` : child.name;
    const stat = await lstat(path);
    const mode = copy.mode ?? stat.mode & 0o7777;
    if (stat.isDirectory()) {
      place(target, { type: "directory", mode, ...owner });
      hash.update(`${target}/\0${mode}\n`);
      await copyTree(path, target, copy, owner, place, hash);
    } else if (stat.isSymbolicLink()) {
      const linkname = await readlink(path);
      place(target, { type: "symlink", mode: 0o777, ...owner, linkname });
      hash.update(`${target}\0->${linkname}\n`);
    } else if (stat.isFile()) {
      const content = await readFile(path);
      place(target, { type: "file", mode, ...owner, content });
      hash.update(`${target}\0${mode}\0${digestOf(content)}\n`);
    } else
      throw new FastPathRefused(`${target} in the context is not a file, directory or symlink`);
  }
}

async function tarOf(entries: Map<string, LayerEntry>, mtime: Date): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [path, entry] of sorted) {
    const header = {
      name: entry.type === "directory" ? `${path}/` : path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      uname: "",
      gname: "",
      mtime,
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
    };
    const content = entry.content;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content) tar.entry({ ...header, size: content.length }, content, done);
      else tar.entry(header, done);
    });
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/**
 * gzip level 1, or 0 (stored blocks) when a sample does not shrink: already compressed content
 * (most binaries an upload carries) costs zlib ten times the time for nothing.
 */
function compressionLevel(tar: Buffer): number {
  if (tar.length < 1 << 20) return 6;
  const sample = Buffer.concat(
    Array.from({ length: 8 }, (_, i) => {
      const at = Math.floor((tar.length / 8) * i);
      return tar.subarray(at, at + 16_384);
    }),
  );
  return gzipSyncRatio(sample) > 0.9 ? 0 : 1;
}

function gzipSyncRatio(sample: Buffer): number {
  // zlib's sync call on 128 KiB: a millisecond, not worth a thread-pool round trip.
  return deflateRawSync(sample, { level: 1 }).length / sample.length;
}

/** What buildah's ADD unpacks instead of copying: gzip, bzip2, xz, zstd or a tar. */
async function looksLikeArchive(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    const b = head.subarray(0, bytesRead);
    const starts = (...magic: number[]) => magic.every((m, i) => b[i] === m);
    return (
      starts(0x1f, 0x8b) ||
      starts(0x42, 0x5a, 0x68) ||
      starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) ||
      starts(0x28, 0xb5, 0x2f, 0xfd) ||
      b.subarray(257, 262).toString("latin1") === "ustar"
    );
  } finally {
    await handle.close();
  }
}

function digestOf(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function parentOf(path: string): string {
  const parent = posix.dirname(path);
  return parent === "." || parent === "/" ? "" : parent;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
