import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { ManagedProcess } from "./managed-process.js";
import {
  appRole,
  legacySuperuser,
  provisionAppRole,
  setSuperuserPassword,
  sqlState,
  superuser,
  withClient,
  writeHba,
  type Owner,
  type Passwords,
} from "./postgres-auth.js";
import { waitUntilReady } from "./readiness.js";

export type ConvertTrustClusterOptions = {
  postgres: string;
  dataDir: string;
  logFile: string;
  owner: Owner | undefined;
  port: number;
  /** The application database whose objects move to the app role. */
  database: string;
  passwords: Passwords;
  /** Extra server arguments (the `fast` settings). */
  extraArgs: readonly string[];
};

/** Made for the rename only (the session user cannot rename itself), dropped right after. */
const upgradeRole = "kiln_upgrade";

/**
 * Converts, in place, a cluster made by the previous Kiln (`initdb --auth=trust -U kiln`: any
 * local user could log in as the superuser `kiln`) into the current shape: bootstrap superuser
 * renamed to `postgres` with a password, a non-superuser `kiln` that owns the application
 * database and every object in it, and Kiln's password-only pg_hba.conf.
 *
 * The server it runs for this listens on no TCP port, only on a fresh socket directory that
 * only the server's user can enter: while the old trust rules still apply, nobody else can use
 * them. Every step is idempotent, so a conversion that stopped halfway is finished by the next
 * start (pg_hba.conf, still trusting, says it is not done).
 */
export async function convertTrustCluster(o: ConvertTrustClusterOptions): Promise<void> {
  const socketDir = await mkdtemp(join(tmpdir(), "kiln-pg-upgrade-"));
  if (o.owner !== undefined) await chown(socketDir, o.owner.uid, o.owner.gid);
  await chmod(socketDir, 0o700);
  const proc = new ManagedProcess({
    name: "postgres",
    command: o.postgres,
    args: [
      ...["-D", o.dataDir, "-p", String(o.port), "-c", "listen_addresses=", "-k", socketDir],
      ...o.extraArgs,
    ],
    cwd: o.dataDir,
    logFile: o.logFile,
    stopSignal: "SIGINT",
    ...(o.owner === undefined ? {} : { uid: o.owner.uid, gid: o.owner.gid }),
  });
  const as = (user: string, database = "postgres"): pg.ClientConfig => ({
    host: socketDir,
    port: o.port,
    user,
    database,
  });
  try {
    await proc.start();
    await waitUntilReady(
      proc,
      async () => {
        await withClient(as(legacySuperuser), (c) => c.query("SELECT 1")).catch((err) => {
          // Ready, just a conversion that already renamed `kiln` and has not recreated it.
          if (sqlState(err) !== "28000") throw err;
        });
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 150 },
    );
    await renameBootstrapSuperuser(as);
    await withClient(as(superuser), async (admin) => {
      await setSuperuserPassword(admin, o.passwords.superuser);
      await provisionAppRole(admin, o.passwords.app);
      const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [o.database]);
      if (found.rowCount === 0) return;
      await admin.query(
        `ALTER DATABASE ${pg.escapeIdentifier(o.database)} OWNER TO ${pg.escapeIdentifier(appRole)}`,
      );
    });
    await withClient(as(superuser, o.database), (c) => reassignToAppRole(c)).catch((err) => {
      // No application database yet: the normal start creates it.
      if (sqlState(err) !== "3D000") throw err;
    });
    await writeHba(o.dataDir, o.owner);
  } finally {
    await proc.stop();
    await rm(socketDir, { recursive: true, force: true });
  }
}

/**
 * The superuser must be `postgres` and `kiln` must become the app role, so the bootstrap
 * superuser (OID 10, which cannot be dropped) is renamed, by a helper superuser because a
 * session cannot rename its own user.
 */
async function renameBootstrapSuperuser(as: (user: string) => pg.ClientConfig): Promise<void> {
  const name = await bootstrapName(as);
  if (name !== superuser) {
    await withClient(as(name), (c) =>
      c.query(`CREATE ROLE ${upgradeRole} SUPERUSER LOGIN`).catch((err) => {
        if (sqlState(err) !== "42710") throw err; // left by a conversion that stopped here
      }),
    );
    await withClient(as(upgradeRole), (c) =>
      c.query(`ALTER ROLE ${pg.escapeIdentifier(name)} RENAME TO ${superuser}`),
    );
  }
  // Also when an earlier conversion stopped between the rename and this.
  await withClient(as(superuser), (c) => c.query(`DROP ROLE IF EXISTS ${upgradeRole}`));
}

async function bootstrapName(as: (user: string) => pg.ClientConfig): Promise<string> {
  const query = (c: pg.Client) =>
    c.query<{ name: string }>("SELECT rolname AS name FROM pg_roles WHERE oid = 10");
  // `kiln` on a cluster of the previous Kiln; `postgres` once a conversion got past the rename.
  const result = await withClient(as(legacySuperuser), query).catch((err) => {
    if (sqlState(err) !== "28000") throw err;
    return withClient(as(superuser), query);
  });
  return result.rows[0]!.name;
}

// Objects of the application's schemas (not the catalogs, not an extension's) owned by the
// bootstrap superuser. REASSIGN OWNED cannot do this: it refuses to touch the bootstrap
// superuser's objects, the system catalogs among them.
const userObject = (
  nsp: string,
  oid: string,
) => `${nsp} NOT LIKE 'pg\\_%' AND ${nsp} <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = ${oid} AND d.deptype = 'e')`;

/** ALTER … OWNER statements, in order: tables before sequences, since a table takes its own sequences along. */
const ownershipQueries = [
  `SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, $1::text) AS sql FROM pg_namespace n
    WHERE n.nspowner = 10 AND ${userObject("n.nspname", "n.oid")}`,
  `SELECT format('ALTER %s %I.%I OWNER TO %I',
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
           n.nspname, c.relname, $1::text) AS sql
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ${userObject("n.nspname", "c.oid")}`,
  `SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I', n.nspname, c.relname, $1::text) AS sql
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relowner = 10 AND c.relkind = 'S' AND ${userObject("n.nspname", "c.oid")}`,
  `SELECT format('ALTER %s %I.%I OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
           n.nspname, t.typname, $1::text) AS sql
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typowner = 10 AND t.typtype IN ('e', 'd', 'r') AND ${userObject("n.nspname", "t.oid")}`,
  `SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text) AS sql
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proowner = 10 AND ${userObject("n.nspname", "p.oid")}`,
];

async function reassignToAppRole(c: pg.Client): Promise<void> {
  for (const query of ownershipQueries) {
    const statements = await c.query<{ sql: string }>(query, [appRole]);
    for (const { sql } of statements.rows) await c.query(sql);
  }
  // public belongs to pg_database_owner on PostgreSQL 15 (so already to the app role), to the
  // bootstrap superuser before; either way the app role owns what it works in.
  await c.query(`ALTER SCHEMA public OWNER TO ${pg.escapeIdentifier(appRole)}`);
}
