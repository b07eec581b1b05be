import { readFile, rename, writeFile } from "node:fs/promises";
import type { Buildah } from "./buildah.js";

/** A local image as `buildah images --json` lists it. */
interface StoreImage {
  id: string;
  names: string[] | null;
  digest: string;
  size: string;
}

/** What one `trim` removed. */
export interface EvictedImage {
  id: string;
  names: string[];
  bytes: number;
}

export interface ImageCacheOptions {
  buildah: Buildah;
  /** Past this many bytes of images in the store, the least recently used go. */
  limitBytes: number;
  /** Where the last use of each reference is kept (a JSON file in the store's dir), so a restart keeps the order. */
  stateFile: string;
  now?: () => number;
}

/**
 * The runner's image store as a layer cache: the base, builder and runtime images builds pull
 * stay between builds, so the next build from the same builder pulls no layer, up to a size
 * limit, past which the least recently used images are removed. "Used" is what a build named:
 * its FROM images, builder, runtime image and image sources (`used`); an image no build named
 * since the runner kept track counts as the oldest. Sizes are buildah's (3 significant digits,
 * layers shared by two images counted twice): the limit errs on the side of evicting.
 */
export class ImageCache {
  private lastUsed: Map<string, number> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: ImageCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Marks references (`registry/repo:tag`, `repo@sha256:…`) as used now, then trims; one at a time. */
  usedThenTrim(references: readonly string[]): Promise<EvictedImage[]> {
    const run = this.queue.then(async () => {
      const state = await this.state();
      for (const ref of references) state.set(ref, this.now());
      await this.save(state);
      return this.trimNow();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Removes least recently used images until the store is within the limit. */
  private async trimNow(): Promise<EvictedImage[]> {
    const images = await this.list();
    let total = images.reduce((sum, image) => sum + image.bytes, 0);
    if (total <= this.options.limitBytes) return [];
    const state = await this.state();
    const lastUse = (image: StoreImage & { bytes: number }) =>
      Math.max(
        0,
        ...[...(image.names ?? []), ...repositoryDigests(image)].map((ref) => state.get(ref) ?? 0),
      );
    const evicted: EvictedImage[] = [];
    for (const image of [...images].sort((a, b) => lastUse(a) - lastUse(b))) {
      if (total <= this.options.limitBytes) break;
      // Without --force: an image a running build's container uses stays.
      const removed = await this.options.buildah.run(["rmi", image.id]).catch(() => null);
      if (removed?.exitCode !== 0) continue;
      total -= image.bytes;
      evicted.push({ id: image.id, names: image.names ?? [], bytes: image.bytes });
      for (const name of image.names ?? []) state.delete(name);
    }
    await this.save(state);
    return evicted;
  }

  private async list(): Promise<(StoreImage & { bytes: number })[]> {
    const listed = await this.options.buildah.run(["images", "--json", "--no-trunc"], {
      stdout: "capture",
    });
    if (listed.exitCode !== 0) return [];
    const images = JSON.parse(listed.stdout || "[]") as StoreImage[];
    return images.map((image) => ({ ...image, bytes: parseHumanSize(image.size) }));
  }

  private async state(): Promise<Map<string, number>> {
    if (this.lastUsed) return this.lastUsed;
    try {
      this.lastUsed = new Map(
        Object.entries(
          JSON.parse(await readFile(this.options.stateFile, "utf8")) as Record<string, number>,
        ),
      );
    } catch {
      this.lastUsed = new Map();
    }
    return this.lastUsed;
  }

  private async save(state: Map<string, number>): Promise<void> {
    const temp = `${this.options.stateFile}.tmp`;
    await writeFile(temp, JSON.stringify(Object.fromEntries(state)), { mode: 0o600 });
    await rename(temp, this.options.stateFile);
  }
}

/** `repo@sha256:…` for each name's repository: how a reference by digest names the image. */
function repositoryDigests(image: StoreImage): string[] {
  return (image.names ?? []).map((name) => `${name.replace(/:[^/:]+$/, "")}@${image.digest}`);
}

/** buildah's sizes ("2 MB", "737 MB", "1.21 GB": decimal units, go-units' HumanSize) in bytes. */
export function parseHumanSize(text: string): number {
  const match = /^([\d.]+)\s*([kKMGTP]?B)$/.exec(text.trim());
  if (!match) return 0;
  const units: Record<string, number> = {
    B: 1,
    kB: 1e3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    PB: 1e15,
  };
  return Math.round(Number(match[1]) * (units[match[2] ?? "B"] ?? 1));
}
