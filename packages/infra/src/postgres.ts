import {
  access,
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { runChecked } from "@kiln/runtime";
import pg from "pg";
import { findBinaries } from "./binaries.js";
import { MissingDependencyError, StartupFailedError } from "./errors.js";
import { ManagedProcess } from "./managed-process.js";
import {
  appRole,
  createOwnedDatabase,
  hbaConf,
  hbaTrustsAnyone,
  isLoginRefused,
  passwordFiles,
  provisionAppRole,
  readOrCreatePassword,
  readPassword,
  scramVerifier,
  superuser,
  withClient,
  writeHba,
  type ConnectTo,
  type Owner,
  type PasswordFiles,
  type Passwords,
} from "./postgres-auth.js";
import { convertTrustCluster } from "./postgres-upgrade.js";
import { assertPortFree } from "./ports.js";
import { tcpProbe, waitUntilReady } from "./readiness.js";

export type StartPostgresOptions = {
  /**
   * Kiln state directory; data goes to `<stateDir>/postgres`, the log to
   * `<stateDir>/logs/postgres.log`, the passwords of the superuser and of the `kiln` role to
   * `<stateDir>/postgres-superuser.password` and `<stateDir>/postgres-kiln.password` (0600).
   */
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
  /**
   * `postgres://kiln:PASSWORD@127.0.0.1:PORT/kiln`: the `kiln` role (no superuser, owner of the
   * `kiln` database), what the services and the migrations use. Holds the password: never log it.
   */
  url: string;
  /**
   * The superuser `postgres` (with its password), `postgres` maintenance database: for
   * administration only (CREATE/DROP DATABASE, see `createKilnDatabase`).
   */
  adminUrl: string;
  host: string;
  port: number;
  /** Builds a URL for another database on this server, as the `kiln` role. */
  urlFor(database: string): string;
  process: ManagedProcess;
  stop(): Promise<void>;
};

/** Application database, created on first start and owned by the `kiln` role. */
const database = "kiln";

/** What `fast` trades away (see {@link StartPostgresOptions}). */
const fastSettings = [
  "-c",
  "fsync=off",
  "-c",
  "synchronous_commit=off",
  "-c",
  "full_page_writes=off",
];

// Unix socket paths are limited to 107 bytes (sun_path) including ".s.PGSQL.<port>".
const maxSocketDirLength = 90;

/**
 * Starts a PostgreSQL server on loopback with its own data directory, creating the cluster
 * (initdb), the `kiln` role and the `kiln` database on first use; a later start on the same
 * `stateDir` reuses them, and converts a cluster of the previous Kiln (trust auth) in place.
 * Every login needs a password (see postgres-auth.ts).
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

  const fast = options.fast === true;
  const files = passwordFiles(stateDir);
  const passwords = await prepareCluster(
    { dataDir, socketDir, logFile, owner },
    { ...binaries, port, fast },
    files,
  );

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
    // Passwords set by hand are stored as SCRAM verifiers too (PostgreSQL 13 defaults to md5).
    "-c",
    "password_encryption=scram-sha-256",
    ...(fast ? fastSettings : []),
  ];
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

  const url = (role: string, password: string, db: string) =>
    `postgres://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(db)}`;
  const urlFor = (db: string) => url(appRole, passwords.app, db);
  const adminUrlFor = (db: string) => url(superuser, passwords.superuser, db);
  try {
    let refused: unknown;
    await waitUntilReady(
      proc,
      async () => {
        await tcpProbe(host, port);
        await withClient(adminUrlFor("postgres"), (c) => c.query("SELECT 1")).catch((err) => {
          // The server is up and said no: waiting will not change its mind.
          if (!isLoginRefused(err)) throw err;
          refused = err;
        });
        return true;
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 150 },
    );
    if (refused !== undefined) throw superuserRefused(refused, files.superuser, dataDir);
    await withClient(adminUrlFor("postgres"), async (admin) => {
      await provisionAppRole(admin, passwords.app);
      await provisionAppDatabase(admin, adminUrlFor);
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }

  return {
    url: urlFor(database),
    adminUrl: adminUrlFor("postgres"),
    host,
    port,
    urlFor,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
}

/**
 * Makes `dataDir` a cluster with Kiln's roles and pg_hba.conf, and returns the passwords: initdb
 * on first use; a cluster whose pg_hba.conf trusts anyone (the previous Kiln's) is converted
 * in place; any other must have its superuser password file.
 */
async function prepareCluster(
  paths: ClusterPaths,
  server: { postgres: string; initdb: string; port: number; fast: boolean },
  files: PasswordFiles,
): Promise<Passwords> {
  const { dataDir, owner } = paths;
  const versionFile = join(dataDir, "PG_VERSION");
  if (!(await exists(versionFile))) {
    const passwords = await readOrCreatePasswords(files);
    await initCluster(server.initdb, paths, passwords, { fast: server.fast });
    return passwords;
  }
  if (owner !== undefined && (await stat(versionFile)).uid !== owner.uid) {
    // A data dir created by a non-root run (or copied in) must belong to the server user.
    await chownTree(dataDir, owner);
  }
  const hba = await readFile(join(dataDir, "pg_hba.conf"), "utf8").catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  });
  if (hba === undefined) {
    // Not a cluster anyone can log in to (a broken or foreign data dir): the server, which
    // refuses to start on it, says best what is wrong.
    return {
      superuser: (await readPassword(files.superuser)) ?? "",
      app: (await readPassword(files.app)) ?? "",
    };
  }
  if (hbaTrustsAnyone(hba)) {
    const passwords = await readOrCreatePasswords(files);
    await convertTrustCluster({
      postgres: server.postgres,
      dataDir,
      logFile: paths.logFile,
      owner,
      port: server.port,
      database,
      passwords,
      extraArgs: server.fast ? fastSettings : [],
    });
    return passwords;
  }
  const passwords = {
    superuser: await existingSuperuserPassword(files, dataDir),
    app: await readOrCreatePassword(files.app),
  };
  // Ours is the only one there should be; a hand-edited one (a `peer` line) is replaced.
  if (hba !== hbaConf) await writeHba(dataDir, owner);
  return passwords;
}

/**
 * Creates database `name` on `server` owned by the `kiln` role (its `public` schema too), or
 * cloned from `options.template` (CREATE DATABASE … TEMPLATE, which keeps the template's owners).
 * Logs in as the superuser; `name` and `template` must be plain identifiers.
 */
export async function createKilnDatabase(
  server: Pick<PostgresServer, "adminUrl" | "url">,
  name: string,
  options: { template?: string } = {},
): Promise<void> {
  for (const [what, value] of [
    ["database name", name],
    ["template", options.template],
  ] as const) {
    if (value !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
      throw new TypeError(`${what} ${JSON.stringify(value)} is not a lowercase identifier`);
    }
  }
  const owner = decodeURIComponent(new URL(server.url).username);
  const adminUrlFor = (db: string) => {
    const admin = new URL(server.adminUrl);
    admin.pathname = `/${db}`;
    return admin.toString();
  };
  await createOwnedDatabase(adminUrlFor, name, owner, options);
}

/** The `kiln` database, owned by the `kiln` role (created on first start). */
async function provisionAppDatabase(
  admin: pg.Client,
  connect: (db: string) => ConnectTo,
): Promise<void> {
  const found = await admin.query<{ owner: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
    [database],
  );
  const row = found.rows[0];
  if (row === undefined) {
    await createOwnedDatabase(connect, database, appRole);
  } else if (row.owner !== appRole) {
    await admin.query(`ALTER DATABASE ${database} OWNER TO ${appRole}`);
  }
}

async function readOrCreatePasswords(files: PasswordFiles): Promise<Passwords> {
  return {
    superuser: await readOrCreatePassword(files.superuser),
    app: await readOrCreatePassword(files.app),
  };
}

/** An existing password-protected cluster is useless without its superuser's password. */
async function existingSuperuserPassword(files: PasswordFiles, dataDir: string): Promise<string> {
  const password = await readPassword(files.superuser);
  if (password !== undefined) return password;
  throw new StartupFailedError(
    "postgres",
    `cannot log in: ${files.superuser} is missing, and the cluster in ${dataDir} needs that password; restore the file, or remove ${dataDir} to start over (this deletes the data)`,
    {},
  );
}

function superuserRefused(err: unknown, file: string, dataDir: string): StartupFailedError {
  const said = err instanceof Error ? err.message : String(err);
  return new StartupFailedError(
    "postgres",
    `refused the superuser password in ${file} (${said}); restore the file that belongs to ${dataDir}, or remove ${dataDir} to start over (this deletes the data)`,
    {},
    { cause: err },
  );
}

/**
 * postgres refuses to run as root. When we are root, the server runs as the `postgres` system
 * user that Debian's postgresql package creates; otherwise as ourselves.
 */
async function serverUser(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number((await runChecked("id", ["-u", "postgres"])).stdout.trim());
    const gid = Number((await runChecked("id", ["-g", "postgres"])).stdout.trim());
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

type ClusterPaths = {
  dataDir: string;
  /** Owned by the server's user, 0700: initdb's password file goes there for a moment. */
  socketDir: string;
  logFile: string;
  owner: Owner | undefined;
};

async function initCluster(
  initdb: string,
  paths: ClusterPaths,
  passwords: { superuser: string },
  options: { fast: boolean },
): Promise<void> {
  const { dataDir, owner, logFile } = paths;
  // initdb (run as the server's user) reads the superuser's password from a file. It gets the
  // SCRAM verifier, which PostgreSQL stores as given, so not even this copy holds the password;
  // it is removed once initdb is done.
  const pwfile = join(paths.socketDir, "initdb.pwfile");
  await writeFile(pwfile, `${scramVerifier(passwords.superuser)}\n`, { mode: 0o600 });
  if (owner !== undefined) await chown(pwfile, owner.uid, owner.gid);
  const args = [
    "-D",
    dataDir,
    "-U",
    superuser,
    // A password on every connection, the socket too: any local user can reach both.
    "--auth=scram-sha-256",
    `--pwfile=${pwfile}`,
    "-E",
    "UTF8",
    // The C locale exists on every machine (minimal images have no generated locales).
    "--locale=C",
  ];
  if (options.fast) args.push("--no-sync");
  const proc = new ManagedProcess({
    name: "initdb",
    command: initdb,
    args,
    cwd: dataDir,
    logFile,
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
  });
  try {
    await proc.start();
    const exit = await proc.exited;
    if (exit.code !== 0) {
      throw new StartupFailedError("initdb", `failed (code ${exit.code}, signal ${exit.signal})`, {
        logTail: await proc.logTail(),
        logFile,
      });
    }
  } finally {
    await rm(pwfile, { force: true });
  }
  // initdb's own pg_hba.conf also has replication lines; ours is the one every start checks for.
  await writeHba(dataDir, owner);
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
