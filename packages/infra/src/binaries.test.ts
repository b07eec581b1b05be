import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { findBinaries } from "./binaries.js";
import { MissingDependencyError } from "./errors.js";

function fakeBin(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, "#!/bin/sh\n", { mode: 0o755 });
  return path;
}

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("findBinaries", () => {
  test("names every missing program and its Debian package in one error", () => {
    const empty = tempDir("kiln-bin-");
    let err: unknown;
    try {
      findBinaries(["postgres", "registry", "git"], {
        searchPath: empty,
        postgresRoot: empty,
        sbinDirs: [],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as MissingDependencyError).reason).toBe("MissingDependency");
    expect((err as Error).message).toContain("missing postgres, docker-registry, git");
    expect((err as Error).message).toContain("apt-get install -y postgresql docker-registry git");
  });

  test("takes postgres from the highest versioned Debian directory when it is not on PATH", () => {
    const root = tempDir("kiln-pg-");
    fakeBin(join(root, "9.6", "bin"), "postgres");
    fakeBin(join(root, "13", "bin"), "postgres");
    const newest = fakeBin(join(root, "15", "bin"), "postgres");
    const initdb = fakeBin(join(root, "15", "bin"), "initdb");
    const found = findBinaries(["postgres", "initdb"], {
      searchPath: "/nonexistent",
      postgresRoot: root,
      sbinDirs: [],
    });
    expect(found).toEqual({ postgres: newest, initdb });
  });
});
