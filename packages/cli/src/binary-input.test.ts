import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { binarySourceFlag, openBinaryUpload } from "./binary-input.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-cli-binary-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("binary input flags", () => {
  it("accepts at most one --from-* flag", () => {
    expect(binarySourceFlag({})).toBeNull();
    expect(binarySourceFlag({ fromDir: "." })).toEqual({ flag: "from-dir", path: "." });
    expect(() => binarySourceFlag({ fromDir: ".", fromFile: "x" })).toThrow(
      /only one of --from-file, --from-dir/,
    );
  });

  it("names a missing file or directory, or the wrong kind of path", async () => {
    await expect(openBinaryUpload({ flag: "from-file", path: join(dir, "nope") })).rejects.toThrow(
      /--from-file .*nope: no such file/,
    );
    await expect(openBinaryUpload({ flag: "from-dir", path: join(dir, "nope") })).rejects.toThrow(
      /--from-dir .*nope: no such directory/,
    );
    await expect(openBinaryUpload({ flag: "from-file", path: dir })).rejects.toThrow(
      /use --from-dir/,
    );
  });

  it("sends a file under its base name with its length, and refuses zip archives", async () => {
    await writeFile(join(dir, "app.jar"), "jar-bytes");
    const upload = await openBinaryUpload({ flag: "from-file", path: join(dir, "app.jar") });
    expect(upload).toMatchObject({ kind: "file", asFile: "app.jar", size: 9 });
    await upload.body.cancel();
    await writeFile(join(dir, "src.zip"), "PK\x03\x04rest");
    await expect(
      openBinaryUpload({ flag: "from-archive", path: join(dir, "src.zip") }),
    ).rejects.toThrow(/zip archives are not supported/);
  });

  it("streams a directory as a tar of its contents", async () => {
    await writeFile(join(dir, "a.txt"), "a");
    const upload = await openBinaryUpload({ flag: "from-dir", path: dir });
    const chunks: Uint8Array[] = [];
    for await (const c of upload.body as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
    const tar = Buffer.concat(chunks);
    expect(upload.kind).toBe("archive");
    expect(tar.subarray(257, 262).toString()).toBe("ustar");
    expect(tar.includes(Buffer.from("./a.txt"))).toBe(true);
  });
});
