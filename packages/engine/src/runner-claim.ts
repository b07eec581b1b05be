import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync } from "node:fs";
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { runChecked } from "@kiln/runtime";

/** `kiln-runner-<id>.lock`, and `.kiln-runner-<id>.lock.<hex>` while it is being taken. */
const lockName = /^\.?kiln-runner-[0-9a-f]+\.lock(?:\.[0-9a-f]+)?$/;

/** A runner instance's id: what its work dirs, its containers and its claims are named by. */
export function newRunnerId(): string {
  return randomBytes(6).toString("hex");
}

/**
 * One live runner's claim on what it makes below a directory that several runners may share
 * (the work dirs' root, buildah's store): the FIFO `<dir>/kiln-runner-<id>.lock`, which this
 * process holds open for reading until it dies, however it dies. Another runner tells whether
 * the claim is still held by opening the FIFO for writing without blocking, which the kernel
 * refuses (ENXIO) once no reader is left: no pid to check (reused, or in another container's
 * pid namespace), nothing to refresh, and right after a reboot too. The descriptor is opened
 * close-on-exec (Node's default), so no command the runner starts holds the claim past it.
 */
export class RunnerClaim {
  private constructor(
    readonly id: string,
    readonly path: string,
    // Closed by `release` only: otherwise the claim lasts as long as this process.
    private readonly fd: number,
  ) {}

  /** Gives the claim up: what it covered must be gone by now. */
  async release(): Promise<void> {
    await rm(this.path, { force: true });
    closeSync(this.fd);
  }

  /** Takes runner `id`'s claim in `dir` (which must exist). */
  static async take(dir: string, id: string): Promise<RunnerClaim> {
    const path = claimPath(dir, id);
    for (let attempt = 1; ; attempt++) {
      // Made and opened under a temporary name, then renamed: a claim never exists unheld, so
      // a runner sweeping at the same moment cannot take it for a dead one.
      const temporary = join(dir, `.kiln-runner-${id}.lock.${randomBytes(4).toString("hex")}`);
      await runChecked("mkfifo", ["-m", "600", temporary]);
      let fd: number;
      try {
        fd = openSync(temporary, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (error) {
        // Another runner swept it between mkfifo and open, as an unheld leftover: take another.
        if ((error as NodeJS.ErrnoException).code === "ENOENT" && attempt < 3) continue;
        throw error;
      }
      await rename(temporary, path);
      return new RunnerClaim(id, path, fd);
    }
  }

  /**
   * Whether a live process holds runner `id`'s claim in `dir`. What cannot be told (a file that
   * is no FIFO, a permission error) counts as held: a runner removes only what is provably dead.
   */
  static isHeld(dir: string, id: string): boolean {
    return isHeldAt(claimPath(dir, id));
  }

  /**
   * Removes the claims in `dir` (and half-taken ones) that no process holds any more: call it
   * after removing what their runners left, which `isHeld` tells.
   */
  static async removeUnheld(dir: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const entry of entries)
      if (lockName.test(entry) && !isHeldAt(join(dir, entry)))
        await rm(join(dir, entry), { force: true });
  }
}

function claimPath(dir: string, id: string): string {
  return join(dir, `kiln-runner-${id}.lock`);
}

function isHeldAt(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== "ENXIO" && code !== "ENOENT";
  }
}
