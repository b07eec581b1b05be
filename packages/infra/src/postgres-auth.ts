import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { chmod, chown, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { StartupFailedError } from "./errors.js";

/**
 * Who may log in to Kiln's local PostgreSQL, and how. Every connection gives a password
 * (SCRAM-SHA-256), over the unix socket as over loopback TCP. Two roles:
 * - `postgres`, the superuser, for administration only (creating the app role and databases);
 * - `kiln`, what the services and the migrations log in as: no superuser, no CREATEDB or
 *   CREATEROLE, member of no role, owner of its database and everything in it.
 * A local user who can reach the port therefore needs a password, and with the app's password
 * still cannot run programs (`COPY … TO PROGRAM`) or read other roles' secrets.
 */

/** The bootstrap superuser of the cluster. */
export const superuser = "postgres";
/** The role the services log in as. */
export const appRole = "kiln";
/** The previous Kiln's bootstrap superuser (trust auth, no password). */
export const legacySuperuser = "kiln";

/** The server's process owner when we are root (postgres refuses to run as root). */
export type Owner = { uid: number; gid: number };

export type PasswordFiles = { superuser: string; app: string };
export type Passwords = { superuser: string; app: string };

/**
 * Both passwords stay in the state directory, 0600 and owned by whoever runs Kiln (not the
 * server's user): `kiln up` and the test fixtures log in as the superuser on every start to
 * create the app role and databases, so its password cannot be thrown away after initdb.
 */
export function passwordFiles(stateDir: string): PasswordFiles {
  return {
    superuser: join(stateDir, "postgres-superuser.password"),
    app: join(stateDir, "postgres-kiln.password"),
  };
}

/** The password in `file`, or `undefined` when there is no such file. */
export async function readPassword(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  // Whatever loosened it (a copy, a chmod), a password file is the owner's alone.
  await chmod(file, 0o600);
  const password = text.trim();
  if (password === "") {
    throw new StartupFailedError(
      "postgres",
      `cannot log in: ${file} is empty (restore it, or remove it to get a new one)`,
      {},
    );
  }
  return password;
}

/** The password in `file`, made (32 random bytes, URL-safe) on first use. */
export async function readOrCreatePassword(file: string): Promise<string> {
  const existing = await readPassword(file);
  if (existing !== undefined) return existing;
  const password = randomBytes(32).toString("base64url");
  try {
    // "wx": never follow or overwrite a file someone put there since we looked.
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readOrCreatePassword(file);
    throw err;
  }
  return password;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). We hand the server the verifier,
 * never the password: PostgreSQL stores a verifier as given, and a statement that ends up in the
 * server log (a failed one always does) then shows nothing that logs in. Kiln's passwords are
 * ASCII, so SASLprep leaves them as they are.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const storedKey = createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Kiln's pg_hba.conf: a password for everyone, on the socket and on loopback; nothing else. */
export const hbaConf = [
  "# Written by Kiln (packages/infra/src/postgres-auth.ts) on every start; edits are replaced.",
  "# Every connection gives its role's password, over the unix socket and over loopback TCP:",
  "# any local user can reach both, so neither trusts the OS user.",
  "# TYPE  DATABASE  USER  ADDRESS       METHOD",
  "local   all       all                 scram-sha-256",
  "host    all       all   127.0.0.1/32  scram-sha-256",
  "host    all       all   ::1/128       scram-sha-256",
  "",
].join("\n");

/** Whether a pg_hba.conf lets anyone in without a password (the previous Kiln's `--auth=trust`). */
export function hbaTrustsAnyone(text: string): boolean {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim().split(/\s+/))
    .some((fields) => fields.length >= 4 && fields.includes("trust"));
}

/** Replaces `<dataDir>/pg_hba.conf` with Kiln's, in one rename (the server reads it at start and on reload). */
export async function writeHba(dataDir: string, owner: Owner | undefined): Promise<void> {
  const file = join(dataDir, "pg_hba.conf");
  const temp = `${file}.kiln-new`;
  await writeFile(temp, hbaConf, { mode: 0o600 });
  if (owner !== undefined) await chown(temp, owner.uid, owner.gid);
  await rename(temp, file);
}

/** A connection string, or (for the unix socket) a config object. */
export type ConnectTo = string | pg.ClientConfig;

/** Runs `fn` with a connected client, closed afterwards. */
export async function withClient<T>(
  to: ConnectTo,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const config = typeof to === "string" ? { connectionString: to } : to;
  const client = new pg.Client({ connectionTimeoutMillis: 2000, ...config });
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

/** PostgreSQL's SQLSTATE of a server error, if `err` is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The server refused the login (class 28: a wrong password, an unknown role, no pg_hba entry). */
export function isLoginRefused(err: unknown): boolean {
  return sqlState(err)?.startsWith("28") ?? false;
}

const ident = (name: string) => pg.escapeIdentifier(name);

/**
 * Creates or corrects the app role: it can log in with `password` and nothing more. Run on
 * every start, so the password file stays the one source of truth and an attribute or
 * membership someone added (pg_execute_server_program would give back COPY … TO PROGRAM) goes.
 */
export async function provisionAppRole(admin: pg.Client, password: string): Promise<void> {
  const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [appRole]);
  const verb = exists.rowCount === 0 ? "CREATE" : "ALTER";
  await admin.query(
    `${verb} ROLE ${ident(appRole)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`,
  );
  const memberships = await admin.query<{ role: string }>(
    `SELECT r.rolname AS role FROM pg_auth_members m
       JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
      WHERE u.rolname = $1`,
    [appRole],
  );
  for (const { role } of memberships.rows) {
    await admin.query(`REVOKE ${ident(role)} FROM ${ident(appRole)}`);
  }
}

/** Sets the superuser's password (as a verifier, see {@link scramVerifier}). */
export async function setSuperuserPassword(admin: pg.Client, password: string): Promise<void> {
  await admin.query(
    `ALTER ROLE ${ident(superuser)} PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`,
  );
}

/**
 * Creates database `name` owned by `owner`. A database made from scratch also gets its `public`
 * schema handed to `owner` (PostgreSQL before 15 gives it to the bootstrap superuser), so the
 * owner owns everything it works in; a clone of a template keeps the template's owners.
 * `connect(database)` says how to reach the server as the superuser.
 */
export async function createOwnedDatabase(
  connect: (database: string) => ConnectTo,
  name: string,
  owner: string,
  options: { template?: string } = {},
): Promise<void> {
  const template = options.template === undefined ? "" : ` TEMPLATE ${ident(options.template)}`;
  await withClient(connect("postgres"), (c) =>
    c.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(owner)}${template}`),
  );
  if (options.template !== undefined) return;
  await withClient(connect(name), async (c) => {
    await c.query(`ALTER SCHEMA public OWNER TO ${ident(owner)}`);
    // PostgreSQL 15's default; older servers let every role create objects in public.
    await c.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
  });
}
