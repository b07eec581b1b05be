import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareS2ISource } from "./source-tree.js";

let dir: string;
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), "kiln-s2i-src-"));
  const src = join(dir, "repo");
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(src, path, ".."), { recursive: true });
    await writeFile(join(src, path), content);
  }
  return src;
}

describe("prepareS2ISource", () => {
  it("copies the source without .git and .s2iignore matches, and uploads .s2i/bin scripts executable", async () => {
    const src = await tree({
      "app.txt": "a",
      ".git/HEAD": "ref",
      "logs/x.log": "l",
      ".s2iignore": "logs\n",
      ".s2i/bin/assemble": "echo hi\n",
      ".s2i/environment": "A=1\n",
    });
    await symlink("/etc/passwd", join(src, "link"));
    const facts = await prepareS2ISource(src, join(dir, "out/src"), join(dir, "out/scripts"));
    expect(facts).toMatchObject({
      scripts: ["assemble"],
      scriptsDir: ".s2i/bin",
      environment: "A=1\n",
      ignored: ["logs"],
    });
    expect((await readdir(join(dir, "out/src"))).sort()).toEqual([
      ".s2i",
      ".s2iignore",
      "app.txt",
      "link",
    ]);
    expect((await stat(join(dir, "out/scripts/assemble"))).mode & 0o777).toBe(0o755);
  });
  it("reads the legacy .sti/bin when there is no .s2i/bin", async () => {
    const src = await tree({ ".sti/bin/run": "x", ".sti/environment": "B=2" });
    const facts = await prepareS2ISource(src, join(dir, "o/src"), join(dir, "o/scripts"));
    expect(facts).toMatchObject({ scripts: ["run"], scriptsDir: ".sti/bin", environment: "B=2" });
  });
  it("fails with FetchSourceFailed when the context dir is missing", async () => {
    const src = await tree({ "a.txt": "a" });
    await expect(
      prepareS2ISource(join(src, "nope"), join(dir, "o/src"), join(dir, "o/scripts")),
    ).rejects.toMatchObject({ reason: "FetchSourceFailed" });
  });
});
