import { gzipSync } from "node:zlib";

/** One entry of a hand-made tar; paths and link targets are written exactly as given. */
export interface TarFixtureEntry {
  path: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "char" | "fifo";
  /** File content. */
  content?: string | Uint8Array;
  linkpath?: string;
  /** @default 0o644 for files, 0o755 for directories */
  mode?: number;
}

/**
 * Writes a ustar archive byte by byte, with no sanitising at all: tar tools refuse to create
 * `../evil` or `/abs` entries, and tests of safe extraction need exactly those.
 */
export function tarBytes(
  entries: readonly TarFixtureEntry[],
  options: { gzip?: boolean } = {},
): Buffer {
  const blocks: Buffer[] = [];
  const flags = { file: "0", hardlink: "1", symlink: "2", char: "3", dir: "5", fifo: "6" } as const;
  for (const e of entries) {
    const type = e.type ?? "file";
    const body = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0);
    const h = Buffer.alloc(512);
    const put = (text: string, at: number, len: number) => {
      const b = Buffer.from(text, "utf8");
      if (b.length > len) throw new Error(`tar fixture field too long: ${text}`);
      b.copy(h, at);
    };
    const octal = (n: number, at: number, len: number) =>
      put(`${n.toString(8).padStart(len - 1, "0")}\0`, at, len);
    put(e.path, 0, 100);
    octal(e.mode ?? (type === "dir" ? 0o755 : 0o644), 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(body.length, 124, 12);
    octal(1_700_000_000, 136, 12);
    put(flags[type], 156, 1);
    put(e.linkpath ?? "", 157, 100);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return options.gzip ? gzipSync(tar) : tar;
}
