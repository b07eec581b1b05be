import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeLayer, type LayerInput } from "./layer-tar.js";

let contextDir: string;
beforeEach(async () => {
  contextDir = await mkdtemp(join(tmpdir(), "layer-tar-"));
});
afterEach(() => rm(contextDir, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const input = (): LayerInput => ({
  contextDir,
  copies: [
    {
      keyword: "COPY",
      sources: ["app.bin"],
      destination: "/app/",
      writtenDestination: "/app/",
      intoDirectory: true,
      owner: null,
      mode: null,
    },
  ],
  workdirs: [],
  base: new Map([["usr", "dir"]]),
  mtime: new Date("2026-12-01T00:00:00Z"),
});

describe("writeLayer", () => {
  it("writes the same bytes for the same upload, an incompressible one stored, not deflated", async () => {
    // Several MiB of random bytes: the gzip is stored blocks, whose sizes follow zlib's output
    // buffer, so the layer's digest must not depend on anything but the input.
    const upload = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(contextDir, "app.bin"), upload, { mode: 0o755 });

    const first = await writeLayer(input());
    const second = await writeLayer(input());
    expect(second.digest).toBe(first.digest);
    expect(second.gzipped.equals(first.gzipped)).toBe(true);

    expect(gunzipSync(first.gzipped).equals(first.tar)).toBe(true);
    expect(first.diffId).toBe(sha256(first.tar));
    expect(first.digest).toBe(sha256(first.gzipped));
    // Stored: gzip's framing and block headers only, a few bytes per 64 KiB.
    expect(first.gzipped.length).toBeGreaterThan(first.tar.length);
    expect(first.gzipped.length).toBeLessThan(first.tar.length + 1024);
  });
});
