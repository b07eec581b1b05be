/**
 * A `.kiln/postgres` made by the previous Kiln (`initdb --auth=trust -U kiln`, the services
 * logging in as that superuser) keeps its data when the new Kiln starts it, and loses trust.
 */
import { execFileSync } from "node:child_process";
import { chmod, chown, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, test } from "vitest";
import { runMigrations } from "@kiln/db";
import { findBinaries, freePort, ManagedProcess, startPostgres } from "@kiln/infra";
import { tempStateDir } from "./helpers.js";

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The postgres system user when we are root (postgres refuses to run as root), as Kiln does. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/**
 * What the previous Kiln left in `<stateDir>/postgres`: a trust cluster whose superuser is
 * `kiln`, the `kiln` database migrated by that superuser, and some data of the user's.
 */
async function makeLegacyCluster(
  stateDir: string,
  port: number,
  /** Runs while the old server is still up; `as(user)` logs in to `postgres` (trust). */
  then?: (as: (user: string) => string) => Promise<void>,
): Promise<void> {
  const bin = findBinaries(["postgres", "initdb"]);
  const owner = serverUser();
  const dataDir = join(stateDir, "postgres");
  await chmod(stateDir, 0o711);
  await mkdir(dataDir);
  if (owner !== undefined) await chown(dataDir, owner.uid, owner.gid);
  await chmod(dataDir, 0o700);
  const runAs = owner ?? {};
  execFileSync(
    bin.initdb,
    ["-D", dataDir, "-U", "kiln", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
    { ...runAs, stdio: "ignore", cwd: dataDir },
  );
  const server = new ManagedProcess({
    name: "old-postgres",
    command: bin.postgres,
    args: ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-k", ""],
    cwd: dataDir,
    logFile: join(stateDir, "logs", "postgres.log"),
    stopSignal: "SIGINT",
    ...runAs,
  });
  await server.start();
  try {
    const as = (user: string, db = "postgres") => `postgres://${user}@127.0.0.1:${port}/${db}`;
    for (let i = 0; ; i++) {
      try {
        await query(as("kiln"), "CREATE DATABASE kiln");
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await runMigrations(as("kiln", "kiln"));
    await query(
      as("kiln", "kiln"),
      `CREATE TABLE survivors (id serial PRIMARY KEY, name text NOT NULL);
       INSERT INTO survivors (name) VALUES ('before the upgrade');
       CREATE VIEW survivor_names AS SELECT name FROM survivors;
       CREATE FUNCTION survivor_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM survivors'`,
    );
    await then?.((user) => as(user));
  } finally {
    await server.stop();
  }
}

describe("a postgres state dir of the previous Kiln", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** Starts the new Kiln's postgres on `stateDir` and checks what a user of the old one would. */
  async function expectConverted(stateDir: string, port: number): Promise<void> {
    const server = await startPostgres({ stateDir, port, fast: true });
    cleanups.push(() => server.stop());

    expect((await query(server.url, "SELECT name FROM survivor_names")).rows).toEqual([
      { name: "before the upgrade" },
    ]);
    // kiln owns the table and its sequence now: it can write as before.
    await query(server.url, "INSERT INTO survivors (name) VALUES ('after the upgrade')");
    expect((await query(server.url, "SELECT survivor_count() AS n")).rows).toEqual([{ n: "2" }]);
    // The migrations find everything applied, and can alter what they made (they own it).
    await runMigrations(server.url);
    await query(server.url, "ALTER TABLE builds ADD COLUMN upgrade_probe int");

    const kiln = await query(
      server.url,
      "SELECT current_user AS who, rolsuper FROM pg_roles WHERE rolname = current_user",
    );
    expect(kiln.rows).toEqual([{ who: "kiln", rolsuper: false }]);
    const admin = new URL(server.adminUrl);
    admin.pathname = "/kiln";
    const owners = await query(
      admin.toString(),
      `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'drizzle')
       UNION SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('public', 'drizzle')
       UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'survivor_count'
       UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'kiln'`,
    );
    expect(owners.rows).toEqual([{ owner: "kiln" }]);
    const superusers = await query(
      server.adminUrl,
      "SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY 1",
    );
    expect(superusers.rows).toEqual([{ rolname: "postgres" }]);

    const hba = await readFile(join(stateDir, "postgres", "pg_hba.conf"), "utf8");
    expect(hba.replace(/#.*/g, "")).not.toMatch(/\b(trust|peer)\b/);
    const refused = await query(`postgres://kiln@127.0.0.1:${port}/kiln`, "SELECT 1").catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(Error);
    for (const name of ["postgres-superuser.password", "postgres-kiln.password"]) {
      expect(((await stat(join(stateDir, name))).mode & 0o777).toString(8)).toBe("600");
    }

    // The next start is an ordinary one.
    await server.stop();
    const again = await startPostgres({ stateDir, port, fast: true });
    cleanups.push(() => again.stop());
    expect((await query(again.url, "SELECT count(*)::int AS n FROM survivors")).rows).toEqual([
      { n: 2 },
    ]);
  }

  test("is converted in place: the data survives, trust is gone, and kiln is no superuser but owns it all", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    await makeLegacyCluster(state.dir, port);
    await expectConverted(state.dir, port);
  });

  test("a conversion that stopped halfway (superuser renamed, helper role left) is finished by the next start", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    await makeLegacyCluster(state.dir, port, async (as) => {
      await query(as("kiln"), "CREATE ROLE kiln_upgrade SUPERUSER LOGIN");
      await query(as("kiln_upgrade"), "ALTER ROLE kiln RENAME TO postgres");
    });
    await expectConverted(state.dir, port);
  });
});
