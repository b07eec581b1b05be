/** What every benchmark starts with: a temp dir, the real servers on free loopback ports, and facts about the machine. */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { runMigrations } from "@kiln/db";
import { freePort, startInfrastructure, type Infrastructure, type KilnServiceName } from "@kiln/infra";
import { startKiln, type RunningKiln } from "../test/support/kiln-services.js";

export interface BenchEnvironment {
  workDir: string;
  servers: Infrastructure;
  /** An empty buildah store under the work dir, for services that need one. */
  storageDir: string;
  /** Runs at `cleanup()`, last added first. */
  onCleanup(fn: () => Promise<unknown>): void;
  cleanup(): Promise<void>;
}

/**
 * A temp dir, and nats (JetStream), postgres (migrated) and a registry in it. PostgreSQL is
 * durable, as users run it, unless `fastPostgres` (fsync off) is asked for beside it.
 */
export async function startBenchEnvironment(name: string, options: { keep?: boolean; fastPostgres?: boolean } = {}): Promise<BenchEnvironment> {
  const workDir = await mkdtemp(join(tmpdir(), `kiln-bench-${name}-`));
  await chmod(workDir, 0o711);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((e) => console.error(`cleanup failed: ${String(e)}`));
    if (options.keep) console.log(`kept ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  };
  try {
    const servers = await startInfrastructure({
      stateDir: join(workDir, "state"),
      ports: { nats: await freePort(), postgres: await freePort(), registry: await freePort() },
      fast: options.fastPostgres ?? false,
    });
    cleanups.push(() => servers.stop());
    await runMigrations(servers.databaseUrl);
    const storageDir = join(workDir, "buildah");
    await mkdir(storageDir, { recursive: true });
    return { workDir, servers, storageDir, onCleanup: (fn) => cleanups.push(fn), cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The machine a result was measured on. */
export function machineFacts() {
  return {
    date: new Date().toISOString(),
    cores: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg(),
    node: process.version,
  };
}

/** `2026-11-22T12-28-32Z`: a file-name-safe stamp of an ISO date. */
export const fileStamp = (isoDate: string) => isoDate.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");

/** Service environment that profiles a benchmark's services when KILN_BENCH_NODE_OPTIONS is set. */
export const benchNodeOptions = (): Record<string, string> => (process.env.KILN_BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.KILN_BENCH_NODE_OPTIONS } : {});

/**
 * Kiln's services against a benchmark's servers (subject prefix `kiln`, the environment's
 * buildah store), stopped at the environment's cleanup.
 */
export async function startBenchKiln(env: BenchEnvironment, options: { services?: KilnServiceName[]; extraEnv?: Record<string, string> } = {}): Promise<RunningKiln> {
  const { servers, workDir } = env;
  const kiln = await startKiln({
    infra: { natsUrl: servers.natsUrl, registry: servers.registry, workDir },
    databaseUrl: servers.databaseUrl,
    subjectPrefix: "kiln",
    buildahStorageDir: env.storageDir,
    ...options,
  });
  env.onCleanup(() => kiln.stop());
  return kiln;
}
