import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
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
