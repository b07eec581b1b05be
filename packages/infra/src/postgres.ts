import { execFileSync } from "node:child_process";
import { access, chmod, chown, lstat, mkdir, readdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import pg from "pg";
import { findBinaries } from "./binaries.js";
import { MissingDependencyError, StartupFailedError } from "./errors.js";
import { ManagedProcess } from "./managed-process.js";
import { assertPortFree } from "./ports.js";
import { tcpProbe, waitUntilReady } from "./readiness.js";

export type StartPostgresOptions = {
  /** Kiln state directory; data goes to `<stateDir>/postgres`, the log to `<stateDir>/logs/postgres.log`. */
  stateDir: string;
  port: number;
  /** @default "127.0.0.1" */
  host?: string;
  /**
   * Trade durability for speed (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`,
   * `initdb --no-sync`). For tests only: a crash can corrupt the data.
   * @default false
   */
  fast?: boolean;
  /** Paths of postgres and initdb. @default found with `findBinaries` */
  binaries?: { postgres: string; initdb: string };
  /** @default 30_000 */
  readyTimeoutMs?: number;
  /** Flag shown when the port is busy. @default "--postgres-port" */
  portHint?: string;
};

export type PostgresServer = {
  /** `postgres://kiln@127.0.0.1:PORT/kiln` */
  url: string;
  /** Same server, the `postgres` maintenance database (for CREATE/DROP DATABASE). */
  adminUrl: string;
  host: string;
  port: number;
  /** Builds a URL for another database on this server. */
  urlFor(database: string): string;
  process: ManagedProcess;
  stop(): Promise<void>;
};

/** Superuser and application database created by initdb / on first start. */
const user = "kiln";
const database = "kiln";

// Unix socket paths are limited to 107 bytes (sun_path) including ".s.PGSQL.<port>".
const maxSocketDirLength = 90;

/**
 * Starts a PostgreSQL server on loopback with its own data directory, creating the cluster
 * (initdb) and the `kiln` database on first use; a later start on the same `stateDir` reuses them.
 */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresServer> {
  const host = options.host ?? "127.0.0.1";
  const { port } = options;
  const stateDir = resolve(options.stateDir);
  const binaries = options.binaries ?? findBinaries(["postgres", "initdb"]);
  await assertPortFree(port, "postgres", { host, hint: options.portHint ?? "--postgres-port" });

  const dataDir = join(stateDir, "postgres");
  const socketDir = join(stateDir, "run", "postgres");
  const logFile = join(stateDir, "logs", "postgres.log");
  const owner = await serverUser();
  await mkdir(join(stateDir, "logs"), { recursive: true });
  await prepareDir(dataDir, owner);
  await prepareDir(socketDir, owner);
  if (owner !== undefined) await allowTraversal(stateDir, owner);

  const versionFile = join(dataDir, "PG_VERSION");
  if (!(await exists(versionFile))) {
    await initCluster(binaries.initdb, dataDir, logFile, owner, options.fast === true);
  } else if (owner !== undefined && (await stat(versionFile)).uid !== owner.uid) {
    // A data dir created by a non-root run (or copied in) must belong to the server user.
    await chownTree(dataDir, owner);
  }

  const args = [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-c",
    `listen_addresses=${host}`,
    // An empty directory list disables the socket; we only need TCP and long temp paths overflow sun_path.
    "-k",
    socketDir.length <= maxSocketDirLength ? socketDir : "",
  ];
  if (options.fast === true) {
    args.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  const proc = new ManagedProcess({
    name: "postgres",
    command: binaries.postgres,
    args,
    cwd: dataDir,
    logFile,
    // SIGTERM is "smart" shutdown: it waits for every client (a leaked pool) to disconnect.
    // SIGINT is "fast": it ends sessions and still writes a clean checkpoint.
    stopSignal: "SIGINT",
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
  });
  await proc.start();

  const urlFor = (db: string) => `postgres://${user}@${host}:${port}/${db}`;
  try {
    await waitUntilReady(
      proc,
      async () => {
        await tcpProbe(host, port);
        await withClient(urlFor("postgres"), (c) => c.query("SELECT 1"));
        return true;
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 150 },
    );
    await withClient(urlFor("postgres"), async (client) => {
      const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
      if (found.rowCount === 0) {
        await client.query(`CREATE DATABASE "${database}"`).catch((err: unknown) => {
          // Someone else created it between our check and CREATE.
          if ((err as { code?: string }).code !== "42P04") throw err;
        });
      }
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }

  return {
    url: urlFor(database),
    adminUrl: urlFor("postgres"),
    host,
    port,
    urlFor,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
}

type Owner = { uid: number; gid: number };

/**
 * postgres refuses to run as root. When we are root, the server runs as the `postgres` system
 * user that Debian's postgresql package creates; otherwise as ourselves.
 */
async function serverUser(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  } catch {
    // fall through
  }
  throw new MissingDependencyError([
    { name: "postgres system user (needed when running as root)", debianPackage: "postgresql" },
  ]);
}

async function prepareDir(dir: string, owner: Owner | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
  // postgres refuses a data directory that others can read.
  await chmod(dir, 0o700);
}

/**
 * The server user must reach `<stateDir>/postgres` through every parent directory. We own the
 * state directory, so we open it for traversal (x only, no listing); a parent we do not own that
 * blocks it is reported instead of silently changed.
 */
async function allowTraversal(stateDir: string, owner: Owner): Promise<void> {
  const st = await stat(stateDir);
  if ((st.mode & 0o001) === 0) await chmod(stateDir, (st.mode & 0o777) | 0o011);
  for (let dir = dirname(stateDir); ; dir = dirname(dir)) {
    const s = await stat(dir);
    const ok =
      s.uid === owner.uid
        ? (s.mode & 0o100) !== 0
        : s.gid === owner.gid
          ? (s.mode & 0o010) !== 0
          : (s.mode & 0o001) !== 0;
    if (!ok) {
      throw new StartupFailedError(
        "postgres",
        `cannot run as the postgres user: ${dir} is not searchable by it (chmod o+x ${dir}, or use a state directory elsewhere)`,
        {},
      );
    }
    if (dir === dirname(dir)) break;
  }
}

async function initCluster(
  initdb: string,
  dataDir: string,
  logFile: string,
  owner: Owner | undefined,
  fast: boolean,
): Promise<void> {
  const args = [
    "-D",
    dataDir,
    "-U",
    user,
    // trust is acceptable only because the server listens on loopback alone and the cluster
    // belongs to a local dev/test stack; nothing here is reachable from another machine.
    "--auth=trust",
    "-E",
    "UTF8",
    // The C locale exists on every machine (minimal images have no generated locales).
    "--locale=C",
  ];
  if (fast) args.push("--no-sync");
  const proc = new ManagedProcess({
    name: "initdb",
    command: initdb,
    args,
    cwd: dataDir,
    logFile,
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
  });
  await proc.start();
  const exit = await proc.exited;
  if (exit.code !== 0) {
    throw new StartupFailedError("initdb", `failed (code ${exit.code}, signal ${exit.signal})`, {
      logTail: await proc.logTail(),
      logFile,
    });
  }
}

async function chownTree(path: string, owner: Owner): Promise<void> {
  const s = await lstat(path);
  if (s.uid !== owner.uid || s.gid !== owner.gid) await chown(path, owner.uid, owner.gid);
  if (s.isDirectory()) {
    for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  // A connection refused during startup is reported by connect(); this keeps a later socket
  // error from becoming an unhandled 'error' event.
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
