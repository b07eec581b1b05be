import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract, type Header } from "tar-stream";
import { InvalidArchiveError, UnsafeArchiveError } from "./errors.js";

/**
 * The entries of a tar or tar.gz stream, parsed by tar-stream (ustar, pax, GNU long names) and
 * nothing more: deciding what is safe to write is `safe-extract.ts`'s job, which is why this
 * only reads, with no side effects, and leaves every file system call to the extractor.
 */

export const TarEntryType = {
  File: "File",
  Directory: "Directory",
  Symlink: "Symlink",
  Hardlink: "Hardlink",
  CharDevice: "CharDevice",
  BlockDevice: "BlockDevice",
  Fifo: "Fifo",
} as const;
export type TarEntryType = (typeof TarEntryType)[keyof typeof TarEntryType];

export interface TarEntry {
  /** The path as written in the archive (pax / GNU long names applied), not yet checked. */
  path: string;
  type: TarEntryType;
  /** Permission bits as stored (may include setuid/setgid/sticky). */
  mode: number;
  /** Bytes of content (files only; 0 otherwise). */
  size: number;
  /** Target of a symlink or hardlink, as written. */
  linkpath: string;
  /** The content, exactly `size` bytes; what the caller leaves unread is skipped. */
  body: AsyncIterable<Buffer>;
}

const entryTypes: Partial<Record<Header["type"], TarEntryType>> = {
  file: TarEntryType.File,
  "contiguous-file": TarEntryType.File,
  directory: TarEntryType.Directory,
  symlink: TarEntryType.Symlink,
  link: TarEntryType.Hardlink,
  "character-device": TarEntryType.CharDevice,
  "block-device": TarEntryType.BlockDevice,
  fifo: TarEntryType.Fifo,
};

/**
 * Iterates the entries of a tar or tar.gz stream (gzip told by its magic number). Each entry's
 * body must be consumed (or is skipped) before the next entry is read. Every header counts
 * towards `maxHeaders`, so an endless run of entries cannot spin forever.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: { maxHeaders?: number } = {},
): AsyncGenerator<TarEntry> {
  const maxHeaders = options.maxHeaders ?? Number.POSITIVE_INFINITY;
  const input = await gunzipped(source);
  if (!input) throw new InvalidArchiveError("not a tar archive (empty input)");
  const parser = extract();
  // Fed by hand: tar-stream's streams are streamx streams, which Node's pipe() does not drive.
  const fed = (async () => {
    for await (const chunk of input)
      if (!parser.write(chunk as Buffer))
        await new Promise<void>((resolve) => parser.once("drain", () => resolve()));
    parser.end(undefined);
  })().catch((error: Error) => parser.destroy(error));
  let headers = 0;
  try {
    for await (const entry of parser) {
      const header = entry.header;
      if (++headers > maxHeaders)
        throw new UnsafeArchiveError(`the archive has more than ${maxHeaders} entries`, null);
      // Old (v7) tars mark directories only by a trailing slash.
      const type =
        header.type === "file" && header.name.endsWith("/")
          ? TarEntryType.Directory
          : entryTypes[header.type];
      if (!type)
        throw new UnsafeArchiveError(
          `unsupported tar entry type '${header.type}' for ${JSON.stringify(header.name)}`,
          header.name,
        );
      yield {
        path: header.name,
        type,
        mode: header.mode,
        size: type === TarEntryType.File ? header.size : 0,
        linkpath: header.linkname ?? "",
        body: truncationChecked(entry as AsyncIterable<Buffer>),
      };
      // Whatever the caller left unread (or all of it) is skipped to reach the next header.
      entry.resume();
    }
    await fed;
  } catch (error) {
    if (error instanceof UnsafeArchiveError || error instanceof InvalidArchiveError) throw error;
    throw new InvalidArchiveError(
      headers === 0
        ? "not a tar or tar.gz archive"
        : `corrupt or truncated tar archive (${(error as Error).message})`,
      { cause: error },
    );
  } finally {
    parser.destroy();
    input.destroy();
  }
}

/** An entry's content; a stream that ends before the entry does is a truncated archive, said so. */
async function* truncationChecked(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* body;
  } catch (error) {
    throw new InvalidArchiveError(
      `corrupt or truncated tar archive (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** The bytes as a stream, gunzipped when they start with gzip's magic; null when there are none. */
async function gunzipped(source: AsyncIterable<Uint8Array>): Promise<Readable | null> {
  const iterator = source[Symbol.asyncIterator]();
  let first: Buffer = Buffer.alloc(0);
  // Two bytes tell gzip; a source may hand them over one at a time.
  while (first.length < 2) {
    const next = await iterator.next();
    if (next.done) break;
    first = Buffer.concat([first, Buffer.from(next.value)]);
  }
  if (first.length === 0) return null;
  const rest = (async function* () {
    yield first;
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      yield next.value;
  })();
  const raw = Readable.from(rest, { objectMode: false });
  if (first[0] !== 0x1f || first[1] !== 0x8b) return raw;
  const gunzip = createGunzip();
  raw.on("error", (error) => gunzip.destroy(error));
  return raw.pipe(gunzip);
}
