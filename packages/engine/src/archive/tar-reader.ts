import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InvalidArchiveError, UnsafeArchiveError } from "./errors.js";

/**
 * A small streaming tar reader (ustar, pax and GNU long names; gzip detected by its magic).
 * It only parses: deciding what is safe to write is `safe-extract.ts`'s job. Written here rather
 * than taken from node-tar because extraction must refuse, not "fix up", a bad entry, and the
 * writer must control every file system call; a parser with no side effects makes that simple.
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

const BLOCK = 512;
/** pax / GNU long-name records are metadata; anything bigger is an attack, not a path. */
const MAX_META_BYTES = 1024 * 1024;

/** Reads exact byte counts out of an async stream of chunks. */
class ByteReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Uint8Array>;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Buffers at least `n` bytes unless the stream ends first; returns how many are buffered. */
  async fill(n: number): Promise<number> {
    while (this.buffered.length < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) this.buffered = Buffer.concat([this.buffered, Buffer.from(next.value)]);
    }
    return this.buffered.length;
  }

  async read(n: number): Promise<Buffer | null> {
    if ((await this.fill(n)) < n) return null;
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Yields the next `n` bytes in the pieces they arrive in (no copy of the whole body). */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered.length === 0 && (await this.fill(1)) === 0) throw new InvalidArchiveError("truncated archive");
      const piece = this.buffered.subarray(0, Math.min(left, this.buffered.length));
      this.buffered = this.buffered.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  /** Everything not read yet, the buffered bytes first. */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.buffered.length > 0) yield this.buffered;
    this.buffered = Buffer.alloc(0);
    while (!this.ended) {
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else yield next.value;
    }
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** A gzip stream is unpacked on the fly; anything else is read as a plain tar. */
async function maybeGunzip(source: AsyncIterable<Uint8Array>): Promise<ByteReader> {
  const raw = new ByteReader(source);
  const head = await raw.fill(2);
  const peek = await raw.read(Math.min(head, 2));
  const prefixed = (async function* () {
    if (peek && peek.length > 0) yield peek;
    yield* raw.rest();
  })();
  if (peek && peek.length === 2 && peek[0] === 0x1f && peek[1] === 0x8b) {
    const input = Readable.from(prefixed);
    const gunzip = createGunzip();
    input.on("error", (e) => gunzip.destroy(e));
    input.pipe(gunzip);
    // zlib's own errors ("incorrect header check") say nothing about archives; name the problem.
    const unpacked = (async function* () {
      try {
        for await (const chunk of gunzip) yield chunk as Buffer;
      } catch (e) {
        if (e instanceof InvalidArchiveError || e instanceof UnsafeArchiveError) throw e;
        throw new InvalidArchiveError(`corrupt gzip stream: ${(e as Error).message}`, { cause: e });
      } finally {
        input.destroy();
        gunzip.destroy();
      }
    })();
    return new ByteReader(unpacked);
  }
  return new ByteReader(prefixed);
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul >= 0 ? nul : field.length).toString("utf8");
}

function parseNumber(buf: Buffer, start: number, length: number, field: string): number {
  const bytes = buf.subarray(start, start + length);
  if (bytes[0] !== undefined && (bytes[0] & 0x80) !== 0) {
    // GNU base-256 for values octal cannot hold (files over 8 GiB).
    let value = bytes[0] & 0x7f;
    for (const b of bytes.subarray(1)) value = value * 256 + b;
    if (!Number.isSafeInteger(value)) throw new InvalidArchiveError(`tar header field ${field} is out of range`);
    return value;
  }
  const text = cString(buf, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new InvalidArchiveError(`not a tar archive (bad ${field} field)`);
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumber(header, 148, 8, "checksum");
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === stored;
}

/** pax records: `"<len> <key>=<value>\n"` repeated. */
function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = parseInt(data.subarray(at, space).toString("ascii"), 10);
    if (!Number.isInteger(len) || len <= 0 || at + len > data.length) throw new InvalidArchiveError("corrupt pax header");
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

async function readMeta(reader: ByteReader, size: number, what: string): Promise<Buffer> {
  if (size > MAX_META_BYTES) throw new UnsafeArchiveError(`${what} header of ${size} bytes is larger than ${MAX_META_BYTES}`, null);
  const data = await reader.read(size);
  if (!data) throw new InvalidArchiveError("truncated archive");
  await skipPadding(reader, size);
  return Buffer.from(data);
}

async function skipPadding(reader: ByteReader, size: number): Promise<void> {
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  if (pad > 0 && !(await reader.read(pad))) throw new InvalidArchiveError("truncated archive");
}

/**
 * Iterates the entries of a tar or tar.gz stream. Each entry's body must be consumed (or is
 * skipped) before the next entry is read. Metadata headers (pax, GNU long names) count
 * towards `maxHeaders` so that an endless run of them cannot spin forever.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, options: { maxHeaders?: number } = {}): AsyncGenerator<TarEntry> {
  const reader = await maybeGunzip(source);
  const maxHeaders = options.maxHeaders ?? Number.POSITIVE_INFINITY;
  let headers = 0;
  let sawAnyHeader = false;
  let pending: { path?: string; linkpath?: string; size?: number } = {};
  try {
    for (;;) {
      const header = await reader.read(BLOCK);
      if (!header) {
        // A tar without its end-of-archive blocks (some writers omit them) ends at EOF; no data at all is not a tar.
        if (!sawAnyHeader) throw new InvalidArchiveError("not a tar archive (empty input)");
        return;
      }
      if (header.every((b) => b === 0)) return; // end-of-archive marker: ignore whatever follows.
      if (!checksumOk(header)) throw new InvalidArchiveError(sawAnyHeader ? "corrupt tar header (checksum mismatch)" : "not a tar or tar.gz archive");
      sawAnyHeader = true;
      if (++headers > maxHeaders) throw new UnsafeArchiveError(`the archive has more than ${maxHeaders} entries`, null);

      const typeflag = String.fromCharCode(header[156] as number);
      const size = pending.size ?? parseNumber(header, 124, 12, "size");
      const ustar = cString(header, 257, 6).startsWith("ustar");
      const prefix = ustar ? cString(header, 345, 155) : "";
      const rawName = cString(header, 0, 100);
      const path = pending.path ?? (prefix ? `${prefix}/${rawName}` : rawName);
      const linkpath = pending.linkpath ?? cString(header, 157, 100);
      const mode = parseNumber(header, 100, 8, "mode");

      switch (typeflag) {
        case "x": {
          const pax = parsePax(await readMeta(reader, size, "pax"));
          const paxSize = pax.get("size");
          pending = {
            ...pending,
            ...(pax.has("path") ? { path: pax.get("path") as string } : {}),
            ...(pax.has("linkpath") ? { linkpath: pax.get("linkpath") as string } : {}),
            ...(paxSize !== undefined ? { size: Number(paxSize) } : {}),
          };
          if (pending.size !== undefined && !Number.isSafeInteger(pending.size)) throw new InvalidArchiveError("corrupt pax size");
          continue;
        }
        case "g":
          // Global pax headers (git archive writes one with the commit id) carry nothing we apply.
          await readMeta(reader, size, "pax global");
          continue;
        case "L":
          pending = { ...pending, path: cString(await readMeta(reader, size, "GNU long name"), 0, size) };
          continue;
        case "K":
          pending = { ...pending, linkpath: cString(await readMeta(reader, size, "GNU long link"), 0, size) };
          continue;
      }

      pending = {};
      const type = entryType(typeflag, path);
      if (type === null) throw new UnsafeArchiveError(`unsupported tar entry type '${typeflag}' for ${JSON.stringify(path)}`, path);
      // Only regular files carry content; other types must not (a hardlink with a size would desync us).
      const bodySize = type === TarEntryType.File ? size : 0;
      let delivered = 0;
      const body = (async function* () {
        for await (const piece of reader.take(bodySize - delivered)) {
          delivered += piece.length;
          yield piece;
        }
      })();
      yield { path, type, mode, size: bodySize, linkpath, body };
      // Whatever the caller left unread (or all of it) is skipped to reach the next header.
      for await (const piece of reader.take(bodySize - delivered)) delivered += piece.length;
      await skipPadding(reader, bodySize);
    }
  } finally {
    await reader.close();
  }
}

function entryType(flag: string, path: string): TarEntryType | null {
  switch (flag) {
    case "0":
    case "\0":
    case "7":
      // Old (v7) tars mark directories only by a trailing slash.
      return path.endsWith("/") ? TarEntryType.Directory : TarEntryType.File;
    case "1":
      return TarEntryType.Hardlink;
    case "2":
      return TarEntryType.Symlink;
    case "3":
      return TarEntryType.CharDevice;
    case "4":
      return TarEntryType.BlockDevice;
    case "5":
      return TarEntryType.Directory;
    case "6":
      return TarEntryType.Fifo;
    default:
      return null;
  }
}
