import { mkdir, mkdtemp, realpath, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveInside } from "./source-paths.js";

let root: string;
let outside: string;
beforeAll(async () => {
  const base = await realpath(await mkdtemp(join(tmpdir(), "kiln-paths-")));
  root = join(base, "src");
  outside = join(base, "other-build");
  await mkdir(join(root, "app", "sub"), { recursive: true });
  await mkdir(outside);
  await symlink("/", join(root, "to-root"));
  await symlink("../other-build", join(root, "to-sibling"));
  await symlink("app/sub", join(root, "inner-link"));
});
afterAll(async () => rm(join(root, ".."), { recursive: true, force: true }));

describe("resolveInside", () => {
  it("resolves paths and links that stay inside", async () => {
    expect(await resolveInside(root, "app", "contextDir")).toBe(join(root, "app"));
    expect(await resolveInside(root, "inner-link", "contextDir")).toBe(join(root, "app", "sub"));
    expect(await resolveInside(root, "", "contextDir")).toBe(root);
    expect(await resolveInside(root, "app/not/yet", "destinationDir")).toBe(
      join(root, "app", "not", "yet"),
    );
  });

  it("refuses `..` and symlinks that lead out, also below a path that does not exist yet", async () => {
    await expect(resolveInside(root, "../other-build", "contextDir")).rejects.toThrow(
      "contextDir points outside the source",
    );
    await expect(resolveInside(root, "to-root", "contextDir")).rejects.toThrow(
      "leads outside the source through a symlink",
    );
    await expect(resolveInside(root, "to-sibling/x/y", "destinationDir")).rejects.toThrow(
      "through a symlink",
    );
    await expect(resolveInside(root, "to-root/etc/passwd", "dockerfilePath")).rejects.toMatchObject(
      { reason: "InvalidSource" },
    );
  });
});
