import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newRunnerId, RunnerClaim } from "./runner-claim.js";

const claimModule = fileURLToPath(new URL("./runner-claim.ts", import.meta.url));
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-claim-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Another runner's process: takes runner `id`'s claim in `dir`, says so, and waits. */
async function otherRunner(id: string) {
  const script = `
    import { RunnerClaim } from ${JSON.stringify(claimModule)};
    await RunnerClaim.take(${JSON.stringify(dir)}, ${JSON.stringify(id)});
    process.stdout.write("claimed\\n");
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`exited (${code}) before claiming`)));
  });
  return {
    kill: async () => {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

// Each test starts other runners as node processes (tsx compiles on start): slow on a loaded machine.
describe("RunnerClaim", { timeout: 30_000 }, () => {
  it("is held while the process that took it lives, and not once it is killed", async () => {
    const id = newRunnerId();
    const other = await otherRunner(id);
    expect(RunnerClaim.isHeld(dir, id)).toBe(true);
    await other.kill();
    expect(RunnerClaim.isHeld(dir, id)).toBe(false);
  });

  it("is held by this process from take on; a claim never taken is not", async () => {
    const mine = await RunnerClaim.take(dir, newRunnerId());
    expect(RunnerClaim.isHeld(dir, mine.id)).toBe(true);
    expect(RunnerClaim.isHeld(dir, newRunnerId())).toBe(false);
  });

  it("removeUnheld removes dead runners' claims and keeps the live ones'", async () => {
    const mine = await RunnerClaim.take(dir, newRunnerId());
    const live = newRunnerId();
    const dead = newRunnerId();
    const other = await otherRunner(live);
    const crashed = await otherRunner(dead);
    try {
      await crashed.kill();
      await RunnerClaim.removeUnheld(dir);
      expect((await readdir(dir)).sort()).toEqual(
        [`kiln-runner-${mine.id}.lock`, `kiln-runner-${live}.lock`].sort(),
      );
      expect(existsSync(join(dir, `kiln-runner-${dead}.lock`))).toBe(false);
    } finally {
      await other.kill();
    }
  });
});
