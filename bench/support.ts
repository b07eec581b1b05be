/** What every benchmark starts with: a temp dir, the real servers on free loopback ports, and facts about the machine. */
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import {
  busNatsUsers,
  createBusCredentials,
  createSealingKeyPair,
  type BusCredentials,
  type SealingKeyPair,
} from "@kiln/bus";
import { runMigrations, SecretBox } from "@kiln/db";
import {
  freePort,
  startInfrastructure,
  type Infrastructure,
  type KilnServiceName,
  type RegistryServer,
} from "@kiln/infra";
import { basicAuthOf, dockerConfigFor } from "@kiln/registry";
import { runChecked } from "@kiln/runtime";
import { buildUser } from "../test/support/build-user.js";
import { startKiln, type RunningKiln } from "../test/support/kiln-services.js";

/** The bus identities and sealing keys of a bench's Kiln, as `kiln up` makes them (auth on). */
export interface BenchBus {
  busCredentials: BusCredentials;
  sealingKeys: SealingKeyPair;
  secretsKey: string;
}

export async function createBenchBus(): Promise<BenchBus> {
  return {
    busCredentials: createBusCredentials(),
    sealingKeys: await createSealingKeyPair(),
    secretsKey: SecretBox.generateKey(),
  };
}

export interface BenchEnvironment {
  workDir: string;
  servers: Infrastructure;
  bus: BenchBus;
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
export async function startBenchEnvironment(
  name: string,
  options: { keep?: boolean; fastPostgres?: boolean } = {},
): Promise<BenchEnvironment> {
  const workDir = await mkdtemp(join(tmpdir(), `kiln-bench-${name}-`));
  await chmod(workDir, 0o711);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((e) => console.error(`cleanup failed: ${String(e)}`));
    if (options.keep) console.log(`kept ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  };
  try {
    const bus = await createBenchBus();
    const servers = await startInfrastructure({
      natsUsers: busNatsUsers(bus.busCredentials, "kiln"),
      stateDir: join(workDir, "state"),
      ports: { nats: await freePort(), postgres: await freePort(), registry: await freePort() },
      fast: options.fastPostgres ?? false,
    });
    cleanups.push(() => servers.stop());
    await runMigrations(servers.databaseUrl);
    const storageDir = join(workDir, "buildah");
    await mkdir(storageDir, { recursive: true });
    return { workDir, servers, bus, storageDir, onCleanup: (fn) => cleanups.push(fn), cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** `--authfile` of Kiln's registry, for root's buildah in a benchmark. */
export function authFileArgs(env: BenchEnvironment): string[] {
  const file = env.servers.registry.authFile;
  return file ? ["--authfile", file] : [];
}

/** The `Authorization` header Kiln's registry wants, for fetch in a benchmark. */
export function registryAuthorization(registry: RegistryServer): Record<string, string> {
  return registry.credentials
    ? { authorization: `Basic ${basicAuthOf(registry.credentials)}` }
    : {};
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
export const benchNodeOptions = (): Record<string, string> =>
  process.env.KILN_BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.KILN_BENCH_NODE_OPTIONS } : {};

/**
 * Kiln's services against a benchmark's servers (subject prefix `kiln`; the build-runner's store
 * its own, the build user's, beside the bench's root-owned one), stopped at the environment's cleanup.
 */
export async function startBenchKiln(
  env: BenchEnvironment,
  options: {
    services?: KilnServiceName[];
    extraEnv?: Record<string, string>;
    buildahStorageDir?: string;
  } = {},
): Promise<RunningKiln> {
  const { servers, workDir } = env;
  const kiln = await startKiln({
    infra: { natsUrl: servers.natsUrl, registry: servers.registry, workDir, ...env.bus },
    databaseUrl: servers.databaseUrl,
    subjectPrefix: "kiln",
    buildahStorageDir: join(workDir, "runner-storage"),
    ...options,
  });
  env.onCleanup(() => kiln.stop());
  return kiln;
}

/** buildah and git as a person runs them by hand: as the build user, rootless, on overlay, under runc. */
export interface HandWrittenBuildah {
  /** Owned by the build user: its store, config and work dirs. */
  dir: string;
  /** `--isolation oci --runtime runc --network none`, the flags of an isolated RUN step. */
  isolation: string[];
  buildah(...args: string[]): Promise<void>;
  as(command: string, args: string[], cwd?: string): Promise<void>;
}

/** The baseline Kiln's builds are compared with, with a store of its own under the bench's dir. */
export async function handWrittenBuildah(
  env: BenchEnvironment,
  name: string,
  registry: string,
): Promise<HandWrittenBuildah> {
  const user = await buildUser();
  const dir = join(env.workDir, name);
  await mkdir(dir, { recursive: true });
  await chown(dir, user.uid, user.gid);
  const registriesConf = join(dir, "registries.conf");
  await writeFile(registriesConf, `[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);
  // Kiln's account, as the runner has it: the build user cannot read root's 0600 auth file.
  const authFile = join(dir, "auth.json");
  const account = env.servers.registry.credentials;
  await writeFile(authFile, account ? dockerConfigFor(registry, account) : '{"auths":{}}', {
    mode: 0o600,
  });
  // As Kiln's git does: the repository belongs to another user of this host.
  const gitConfig = join(dir, "gitconfig");
  await writeFile(gitConfig, "[safe]\n\tdirectory = *\n");
  for (const file of [registriesConf, gitConfig, authFile]) await chown(file, user.uid, user.gid);
  const as = async (command: string, args: string[], cwd = dir) => {
    await runChecked(command, args, {
      cwd,
      ...user,
      env: {
        HOME: dir,
        TMPDIR: dir,
        XDG_RUNTIME_DIR: dir,
        GIT_CONFIG_GLOBAL: gitConfig,
        REGISTRY_AUTH_FILE: authFile,
      },
    });
  };
  const store = [
    "--root",
    join(dir, "storage"),
    "--runroot",
    join(dir, "run"),
    "--storage-driver",
    "overlay",
    "--registries-conf",
    registriesConf,
  ];
  const runc = existsSync("/usr/sbin/runc") ? "/usr/sbin/runc" : "runc";
  return {
    dir,
    isolation: ["--isolation", "oci", "--runtime", runc, "--network", "none"],
    buildah: (...args) => as("buildah", [...store, ...args]),
    as,
  };
}

const benchDir = join(import.meta.dirname, ".");

/**
 * Writes a benchmark's figures: `results/<name>-<stamp>.json` (everything measured),
 * `results/<name>-latest.md` (the table) and, unless `readme` is false, the table between the
 * `<!-- <name>-results:start -->` and `<!-- <name>-results:end -->` markers of bench/README.md.
 */
export async function writeBenchResults(o: {
  name: string;
  title: string;
  date: string;
  table: string;
  json: unknown;
  readme: boolean;
}): Promise<void> {
  const resultsDir = join(benchDir, "results");
  await mkdir(resultsDir, { recursive: true });
  await writeFile(
    join(resultsDir, `${o.name}-${fileStamp(o.date)}.json`),
    JSON.stringify(o.json, null, 2),
  );
  await writeFile(join(resultsDir, `${o.name}-latest.md`), `# ${o.title}\n\n${o.table}\n`);
  if (!o.readme) return;
  const readmePath = join(benchDir, "README.md");
  const readme = await readFile(readmePath, "utf8");
  const start = `<!-- ${o.name}-results:start -->`;
  const end = `<!-- ${o.name}-results:end -->`;
  if (!readme.includes(start) || !readme.includes(end)) return;
  await writeFile(
    readmePath,
    `${readme.slice(0, readme.indexOf(start) + start.length)}\n${o.table}\n${readme.slice(readme.indexOf(end))}`,
  );
}

/** Runs a benchmark's `main` to its exit code, cleaning up after it whether it passed or threw. */
export function runBench(
  main: () => Promise<number>,
  cleanup: () => Promise<void> | undefined,
): void {
  main()
    .then(async (code) => {
      await cleanup();
      process.exit(code);
    })
    .catch(async (error: unknown) => {
      console.error(error);
      await cleanup();
      process.exit(1);
    });
}
