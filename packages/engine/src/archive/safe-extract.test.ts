import { execFileSync } from "node:child_process";
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { tarBytes, type TarFixtureEntry } from "@kiln/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidArchiveError, UnsafeArchiveError } from "./errors.js";
import { safeExtractTar } from "./safe-extract.js";

let root: string;
let dest: string;
const limits = { maxBytes: 1024 * 1024 };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kiln-extract-"));
  dest = join(root, "dest");
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const extract = (entries: TarFixtureEntry[], options = limits) =>
  safeExtractTar(Readable.from([tarBytes(entries)]), dest, options);

/** Asserts the refusal names the entry and nothing appeared next to `dest`. */
async function expectRefused(promise: Promise<void>, entry: string, message: RegExp) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsafeArchiveError);
  expect((error as UnsafeArchiveError).entry).toBe(entry);
  expect((error as UnsafeArchiveError).reason).toBe("UnsafeArchive");
  expect((error as Error).message).toContain(JSON.stringify(entry));
  expect((error as Error).message).toMatch(message);
  expect((await readdir(root)).sort()).toEqual(["dest"]);
}

describe("safeExtractTar", () => {
  it("unpacks files, directories, links inside the tree and modes", async () => {
    await extract([
      { path: "app/", type: "dir" },
      { path: "app/run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o4755 },
      { path: "app/data/x.txt", content: "x" },
      { path: "app/current", type: "symlink", linkpath: "data/x.txt" },
      { path: "app/up", type: "symlink", linkpath: "../top" },
      { path: "app/hard", type: "hardlink", linkpath: "app/data/x.txt" },
      { path: "./top", content: "t" },
    ]);
    expect(await readFile(join(dest, "app/run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    // setuid is dropped on purpose; the permission bits stay.
    expect((await stat(join(dest, "app/run.sh"))).mode & 0o7777).toBe(0o755);
    expect(await readlink(join(dest, "app/current"))).toBe("data/x.txt");
    expect(await readFile(join(dest, "app/up"), "utf8")).toBe("t");
    expect((await stat(join(dest, "app/hard"))).ino).toBe(
      (await stat(join(dest, "app/data/x.txt"))).ino,
    );
  });

  it("unpacks a tar.gz and a file path", async () => {
    const file = join(root, "in.tgz");
    await writeFile(file, tarBytes([{ path: "a.txt", content: "gz" }], { gzip: true }));
    await safeExtractTar(file, dest, limits);
    expect(await readFile(join(dest, "a.txt"), "utf8")).toBe("gz");
    await rm(file);
  });

  it("reads what GNU tar writes, long names included (gnu and pax formats)", async () => {
    const src = join(root, "src");
    const long = `${"d".repeat(90)}/${"f".repeat(120)}.txt`;
    await mkdir(join(src, "d".repeat(90)), { recursive: true });
    await writeFile(join(src, long), "long");
    await symlink("../".repeat(0) + "d".repeat(90), join(src, "link"));
    for (const format of ["gnu", "pax"]) {
      const tar = execFileSync("tar", [`--format=${format}`, "-C", src, "-czf", "-", "."]);
      await rm(dest, { recursive: true, force: true });
      await safeExtractTar(Readable.from([tar]), dest, limits);
      expect(await readFile(join(dest, long), "utf8")).toBe("long");
      expect((await lstat(join(dest, "link"))).isSymbolicLink()).toBe(true);
    }
    await rm(src, { recursive: true });
  });

  it("lets a later entry replace an earlier one, and replaces a symlink rather than writing through it", async () => {
    await mkdir(join(root, "outside"));
    await extract([
      { path: "f", content: "one" },
      { path: "f", content: "two" },
    ]);
    expect(await readFile(join(dest, "f"), "utf8")).toBe("two");
  });

  it("refuses a '..' component", async () => {
    await expectRefused(
      extract([
        { path: "ok.txt", content: "ok" },
        { path: "../evil", content: "x" },
      ]),
      "../evil",
      /'\.\.'/,
    );
    await expectRefused(
      extract([{ path: "a/../../evil", content: "x" }]),
      "a/../../evil",
      /'\.\.'/,
    );
  });

  it("refuses an absolute path", async () => {
    await expectRefused(extract([{ path: "/abs", content: "x" }]), "/abs", /absolute/);
  });

  it("refuses a symlink to an absolute path or above the root", async () => {
    await expectRefused(
      extract([{ path: "passwd", type: "symlink", linkpath: "/etc/passwd" }]),
      "passwd",
      /outside/,
    );
    await expectRefused(
      extract([{ path: "a/up", type: "symlink", linkpath: "../../x" }]),
      "a/up",
      /outside/,
    );
  });

  it("refuses to write a file through a symlink, even one pointing inside", async () => {
    await expectRefused(
      extract([
        { path: "sub/", type: "dir" },
        { path: "link", type: "symlink", linkpath: "sub" },
        { path: "link/file", content: "x" },
      ]),
      "link/file",
      /through the symlink "link"/,
    );
  });

  it("refuses links that only escape through other links", async () => {
    // d/l2 -> l1/.. looks like `d`, but once d/l1 -> .. exists it is the parent of the root.
    await expectRefused(
      extract([
        { path: "d/", type: "dir" },
        { path: "d/l2", type: "symlink", linkpath: "l1/.." },
        { path: "d/l1", type: "symlink", linkpath: ".." },
      ]),
      "d/l2",
      /resolves outside/,
    );
  });

  it("refuses hardlinks to anything but an extracted file", async () => {
    await expectRefused(
      extract([{ path: "h", type: "hardlink", linkpath: "/etc/passwd" }]),
      "h",
      /absolute/,
    );
    await expectRefused(
      extract([{ path: "h", type: "hardlink", linkpath: "../x" }]),
      "h",
      /'\.\.'/,
    );
    await expectRefused(
      extract([{ path: "h", type: "hardlink", linkpath: "missing" }]),
      "h",
      /file extracted before it/,
    );
  });

  it("refuses device files and fifos", async () => {
    await expectRefused(extract([{ path: "null", type: "char" }]), "null", /device file or fifo/);
    await expectRefused(extract([{ path: "pipe", type: "fifo" }]), "pipe", /device file or fifo/);
  });

  it("refuses an archive over the byte or entry limit", async () => {
    await expectRefused(
      extract(
        [
          { path: "a", content: "12345" },
          { path: "b", content: "678" },
        ],
        { maxBytes: 6 },
      ),
      "b",
      /more than 6 bytes/,
    );
    const many = Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, content: "" }));
    const error = await extract(many, { maxBytes: 100, maxEntries: 3 } as typeof limits).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect((error as Error).message).toMatch(/more than 3 entries/);
  });

  it("says so when the input is not a tar at all", async () => {
    await expect(
      safeExtractTar(
        Readable.from([Buffer.from("PK\x03\x04 this is a zip".padEnd(600, "."))]),
        dest,
        limits,
      ),
    ).rejects.toBeInstanceOf(InvalidArchiveError);
    await expect(safeExtractTar(Readable.from([Buffer.alloc(0)]), dest, limits)).rejects.toThrow(
      /not a tar/,
    );
    const truncated = tarBytes([{ path: "a", content: "x".repeat(2000) }]).subarray(0, 1200);
    await expect(safeExtractTar(Readable.from([truncated]), dest, limits)).rejects.toThrow(
      /truncated/,
    );
  });
});
