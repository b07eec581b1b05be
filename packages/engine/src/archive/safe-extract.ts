import { constants, createReadStream } from "node:fs";
import { chmod, link, lstat, mkdir, open, readlink, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { UnsafeArchiveError } from "./errors.js";
import { readTar, TarEntryType, type TarEntry } from "./tar-reader.js";

export interface SafeExtractOptions {
  /** Refuse the archive once its files add up to more than this many bytes (unpacked). */
  maxBytes: number;
  /** Refuse the archive once it has more entries than this (headers included). @default 100_000 */
  maxEntries?: number;
}

/**
 * Unpacks a tar or tar.gz (a path, or a stream of bytes) into `destDir`, refusing, with an
 * `UnsafeArchiveError` naming the entry, anything that could write or point outside it:
 * absolute paths, `..` components, symlinks whose target leaves `destDir` (checked as written
 * and again, after extraction, through any chain of links), hardlinks to anything but a file
 * already extracted, device files and fifos, and archives over `maxBytes` / `maxEntries`.
 *
 * Nothing is ever written through a symlink: every parent directory of an entry must be a real
 * directory, and files are opened with O_NOFOLLOW. Setuid, setgid and sticky bits are dropped
 * (the runner is root; a setuid file in a work dir is a step towards the host). Ownership is not
 * restored. On failure `destDir` may hold part of the archive: the caller removes it.
 */
export async function safeExtractTar(
  input: string | AsyncIterable<Uint8Array>,
  destDir: string,
  options: SafeExtractOptions,
): Promise<void> {
  const source = typeof input === "string" ? createReadStream(input) : input;
  const maxEntries = options.maxEntries ?? 100_000;
  await mkdir(destDir, { recursive: true });
  let bytes = 0;
  const symlinks: { entry: string; parts: string[] }[] = [];
  try {
    for await (const entry of readTar(source, { maxHeaders: maxEntries })) {
      const parts = safeParts(entry.path, entry.path);
      if (parts.length === 0) {
        // `./` itself: the destination exists already.
        if (entry.type === TarEntryType.Directory) continue;
        throw new UnsafeArchiveError(
          `entry ${JSON.stringify(entry.path)} names the archive root`,
          entry.path,
        );
      }
      const target = join(destDir, ...parts);
      switch (entry.type) {
        case TarEntryType.Directory:
          await realDirs(destDir, parts, entry.path);
          await chmod(target, (entry.mode & 0o777) | 0o700);
          break;
        case TarEntryType.File:
          bytes += entry.size;
          if (bytes > options.maxBytes)
            throw new UnsafeArchiveError(
              `the archive unpacks to more than ${options.maxBytes} bytes (at ${JSON.stringify(entry.path)})`,
              entry.path,
            );
          await realDirs(destDir, parts.slice(0, -1), entry.path);
          await clearPlace(target, entry.path);
          await writeFile(target, entry);
          break;
        case TarEntryType.Symlink: {
          const escape = symlinkEscape(parts, entry.linkpath);
          if (escape)
            throw new UnsafeArchiveError(
              `symlink ${JSON.stringify(entry.path)} points outside the destination (${JSON.stringify(entry.linkpath)}: ${escape})`,
              entry.path,
            );
          await realDirs(destDir, parts.slice(0, -1), entry.path);
          await clearPlace(target, entry.path);
          await symlink(entry.linkpath, target);
          symlinks.push({ entry: entry.path, parts });
          break;
        }
        case TarEntryType.Hardlink: {
          // Hardlink targets are archive paths (relative to the root), not relative to the link.
          const targetParts = safeParts(entry.linkpath, entry.path, "hardlink target");
          await realDirs(destDir, targetParts.slice(0, -1), entry.path, false);
          const existing = await lstat(join(destDir, ...targetParts)).catch(() => null);
          if (!existing?.isFile()) {
            throw new UnsafeArchiveError(
              `hardlink ${JSON.stringify(entry.path)} must point to a file extracted before it, not ${JSON.stringify(entry.linkpath)}`,
              entry.path,
            );
          }
          await realDirs(destDir, parts.slice(0, -1), entry.path);
          await clearPlace(target, entry.path);
          await link(join(destDir, ...targetParts), target);
          break;
        }
        case TarEntryType.CharDevice:
        case TarEntryType.BlockDevice:
        case TarEntryType.Fifo:
          throw new UnsafeArchiveError(
            `entry ${JSON.stringify(entry.path)} is a device file or fifo (${entry.type})`,
            entry.path,
          );
      }
    }
    // Each link was inside when written, but a later link can change what an earlier one
    // resolves to (`a/l2 -> l1/..` then `a/l1 -> ..`): resolve every one through the tree as it is now.
    for (const { entry, parts } of symlinks) {
      if (await resolvesOutside(destDir, parts))
        throw new UnsafeArchiveError(
          `symlink ${JSON.stringify(entry)} resolves outside the destination through other links`,
          entry,
        );
    }
  } finally {
    if (typeof input === "string") (source as ReturnType<typeof createReadStream>).destroy();
  }
}

/** The entry's path as components, refusing absolute paths, `..` and NUL bytes. */
function safeParts(path: string, entry: string, what = "entry"): string[] {
  const subject =
    what === "entry"
      ? `entry ${JSON.stringify(path)}`
      : `${what} ${JSON.stringify(path)} of entry ${JSON.stringify(entry)}`;
  if (path.includes("\0")) throw new UnsafeArchiveError(`${subject} contains a NUL byte`, entry);
  if (path.startsWith("/")) throw new UnsafeArchiveError(`${subject} is an absolute path`, entry);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes(".."))
    throw new UnsafeArchiveError(`${subject} contains a '..' component`, entry);
  return parts;
}

/** Why a symlink's target, taken lexically from the link's directory, leaves the root; null if it stays. */
function symlinkEscape(linkParts: string[], linkpath: string): string | null {
  if (linkpath === "") return "empty target";
  if (linkpath.startsWith("/")) return "absolute target";
  const at = linkParts.slice(0, -1);
  for (const p of linkpath.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (at.length === 0) return "climbs above the root";
      at.pop();
    } else at.push(p);
  }
  return null;
}

/**
 * Makes sure every one of `parts` under `root` is a real directory (created when missing and
 * `create`), never a symlink: no write may go through a link.
 */
async function realDirs(
  root: string,
  parts: string[],
  entry: string,
  create = true,
): Promise<void> {
  let dir = root;
  for (const part of parts) {
    dir = join(dir, part);
    const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw e;
    });
    if (st === null) {
      if (!create)
        throw new UnsafeArchiveError(
          `entry ${JSON.stringify(entry)} refers to a path that does not exist in the archive`,
          entry,
        );
      await mkdir(dir, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      throw new UnsafeArchiveError(
        `entry ${JSON.stringify(entry)} would be written through the symlink ${JSON.stringify(dir.slice(root.length + 1))}`,
        entry,
      );
    } else if (!st.isDirectory()) {
      throw new UnsafeArchiveError(
        `entry ${JSON.stringify(entry)} needs ${JSON.stringify(dir.slice(root.length + 1))} to be a directory`,
        entry,
      );
    }
  }
}

/** A later entry replaces an earlier one of the same name (tar semantics), but never a directory. */
async function clearPlace(target: string, entry: string): Promise<void> {
  const st = await lstat(target).catch(() => null);
  if (st === null) return;
  if (st.isDirectory())
    throw new UnsafeArchiveError(`entry ${JSON.stringify(entry)} would replace a directory`, entry);
  // unlink removes a symlink itself, never what it points to.
  await unlink(target);
}

async function writeFile(target: string, entry: TarEntry): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(target, flags, 0o600);
  try {
    let written = 0;
    for await (const piece of entry.body) {
      await handle.write(piece);
      written += piece.length;
    }
    if (written !== entry.size)
      throw new UnsafeArchiveError(`entry ${JSON.stringify(entry.path)} is truncated`, entry.path);
    // Permission bits only: no setuid/setgid/sticky (see above). Always readable by the build.
    await handle.chmod((entry.mode & 0o777) | 0o400);
  } finally {
    await handle.close();
  }
}

/**
 * Follows `parts` from `root` through the links on disk (at most 40, like the kernel) and says
 * whether it ever leaves `root`. Missing components are taken lexically.
 */
async function resolvesOutside(root: string, parts: string[]): Promise<boolean> {
  const todo = [...parts].reverse();
  const at: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.pop() as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (at.length === 0) return true;
      at.pop();
      continue;
    }
    at.push(part);
    const path = join(root, ...at);
    const st = await lstat(path).catch(() => null);
    if (!st?.isSymbolicLink()) continue;
    if (++hops > 40) return true;
    const target = await readlink(path);
    if (target.startsWith("/")) return true;
    at.pop();
    todo.push(...target.split("/").reverse());
  }
  return false;
}
