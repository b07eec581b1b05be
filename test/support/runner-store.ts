import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildUser } from "./build-user.js";
import { runnerStorageDir, type KilnInfra } from "./kiln-services.js";

const exec = promisify(execFile);

/**
 * Runs buildah on the build-runner's own store, as the runner's user (the build user when the
 * tests run as root), to see what builds left behind there: the runner's store is rootless,
 * so root's buildah would see another store altogether.
 */
export async function runnerBuildah(infra: KilnInfra, ...args: string[]): Promise<string> {
  const dir = runnerStorageDir(infra);
  const driver = ["overlay", "vfs"].find((d) => existsSync(join(dir, d)));
  if (!driver) throw new Error(`no runner store under ${dir}: did a build-runner start?`);
  const env = {
    ...process.env,
    HOME: join(dir, "home"),
    TMPDIR: join(dir, "tmp"),
    XDG_RUNTIME_DIR: join(dir, "run-user"),
  };
  const global = [
    "--root",
    join(dir, driver),
    "--runroot",
    join(dir, "run", driver),
    "--storage-driver",
    driver,
  ];
  return (await exec("buildah", [...global, ...args], { env, ...(await buildUser()) })).stdout;
}

/** A container in the runner's store, as `buildah containers` lists it, with the runner that made it. */
export interface StoreContainer {
  id: string;
  name: string;
  /** The runner instance Kiln's mark names (a `from`'s name, a `bud`'s build arg); null: unmarked. */
  runner: string | null;
}

/** What `buildah containers --all` lists in the runner's store, each with its owner's mark. */
export async function runnerContainers(infra: KilnInfra): Promise<StoreContainer[]> {
  const dir = runnerStorageDir(infra);
  const driver = ["overlay", "vfs"].find((d) => existsSync(join(dir, d))) ?? "vfs";
  const listed = JSON.parse(
    (await runnerBuildah(infra, "containers", "--all", "--json")) || "[]",
  ) as { id: string; containername: string }[] | null;
  return Promise.all(
    (listed ?? []).map(async ({ id, containername: name }) => {
      const named = /^kiln-([0-9a-f]+)-/.exec(name)?.[1];
      if (named) return { id, name, runner: named };
      try {
        const state = JSON.parse(
          await readFile(
            join(dir, driver, `${driver}-containers`, id, "userdata", "buildah.json"),
            "utf8",
          ),
        ) as { Args?: Record<string, string> };
        return { id, name, runner: state.Args?.KILN_BUILD_OWNER?.split(":")[0] ?? null };
      } catch {
        return { id, name, runner: null };
      }
    }),
  );
}

/**
 * What lies in the runners' work dir besides the runners' own dirs and claims: each build's
 * work dir (below its runner's `kiln-runner-<id>/`, as `kiln-runner-<id>/<name>`) and anything
 * else left there. Empty once no build runs and nothing escaped.
 */
export async function workDirLeftovers(workRoot: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(workRoot).catch(() => [] as string[])) {
    if (/^kiln-runner-[0-9a-f]+\.lock$/.test(entry)) continue;
    if (!/^kiln-runner-[0-9a-f]+$/.test(entry)) {
      found.push(entry);
      continue;
    }
    for (const inside of await readdir(join(workRoot, entry)).catch(() => [] as string[]))
      found.push(`${entry}/${inside}`);
  }
  return found;
}
