/**
 * Kiln's local PostgreSQL from an attacker's side: another local user who can reach the port
 * and the socket (the previous Kiln let them in as the superuser, which read stored Secrets and
 * ran programs as the postgres user with COPY … TO PROGRAM).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { runMigrations } from "@kiln/db";
import {
  findBinaries,
  freePort,
  isPortFree,
  startPostgres,
  StartupFailedError,
  type PostgresServer,
} from "@kiln/infra";
import { tempStateDir } from "./helpers.js";

const exec = promisify(execFile);

async function query(to: string | pg.ClientConfig, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client(typeof to === "string" ? { connectionString: to } : to);
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

// Beside the server binary (PATH may hold only a link to it, or Debian's pg_wrapper).
const psql = join(dirname(realpathSync(findBinaries(["postgres"]).postgres)), "psql");
const nobody = { uid: 65534, gid: 65534 };
const asRoot = process.getuid?.() === 0;

/**
 * psql as a local user who knows no password (`-w`: never prompt), as `nobody` when we are
 * root. Resolves to its exit code and stderr.
 */
async function psqlWithoutPassword(
  args: string[],
  options: { asNobody: boolean },
): Promise<{ code: number; stderr: string }> {
  try {
    await exec(psql, ["-X", "-w", ...args, "-c", "SELECT 1"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent" },
      cwd: "/",
      ...(options.asNobody && asRoot ? nobody : {}),
    });
    return { code: 0, stderr: "" };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe("postgres authentication", () => {
  let state: Awaited<ReturnType<typeof tempStateDir>>;
  let server: PostgresServer;
  let socketDir: string;

  beforeAll(async () => {
    state = await tempStateDir();
    server = await startPostgres({ stateDir: state.dir, port: await freePort(), fast: true });
    socketDir = join(state.dir, "run", "postgres");
  });
  afterAll(async () => {
    await server?.stop();
    await state?.remove();
  });
  const adminUrlFor = (database: string) => {
    const url = new URL(server.adminUrl);
    url.pathname = `/${database}`;
    return url.toString();
  };

  test("a local user without the password is refused, over loopback TCP and over the unix socket", async () => {
    for (const user of ["kiln", "postgres"]) {
      const tcp = await psqlWithoutPassword(
        ["-h", "127.0.0.1", "-p", String(server.port), "-U", user, "-d", "postgres"],
        { asNobody: true },
      );
      expect(tcp).toMatchObject({ code: 2, stderr: expect.stringMatching(/no password supplied/) });
      // The socket directory is the server user's alone (0700); root can enter it, and even
      // root is asked for a password there.
      const socket = await psqlWithoutPassword(
        ["-h", socketDir, "-p", String(server.port), "-U", user, "-d", "postgres"],
        { asNobody: false },
      );
      expect(socket).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/no password supplied/),
      });
    }
  });

  test("a wrong password is refused, over TCP and over the socket", async () => {
    const wrong = randomBytes(16).toString("hex");
    for (const host of ["127.0.0.1", socketDir]) {
      for (const user of ["kiln", "postgres"]) {
        const err = await query(
          { host, port: server.port, user, password: wrong, database: "postgres" },
          "SELECT 1",
        ).catch((e: unknown) => e);
        expect(err).toMatchObject({
          code: "28P01",
          message: `password authentication failed for user "${user}"`,
        });
      }
    }
  });

  test("the services' role is no superuser and cannot run a program on the server", async () => {
    expect(new URL(server.url).username).toBe("kiln");
    const role = await query(
      server.url,
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
              pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') AS exec_program,
              pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') AS read_files,
              pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') AS write_files
         FROM pg_roles WHERE rolname = current_user`,
    );
    expect(role.rows).toEqual([
      {
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
        rolbypassrls: false,
        exec_program: false,
        read_files: false,
        write_files: false,
      },
    ]);
    const marker = `/tmp/kiln-pwned-${randomBytes(6).toString("hex")}`;
    const err = await query(server.url, `COPY (SELECT 1) TO PROGRAM 'touch ${marker}'`).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "42501" }); // insufficient_privilege
    expect(existsSync(marker)).toBe(false);
  });

  test("the services' role cannot read other roles' password verifiers", async () => {
    const err = await query(server.url, "SELECT rolname, rolpassword FROM pg_authid").catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "42501", message: "permission denied for table pg_authid" });
  });

  test("pg_hba.conf asks every connection for a password: no trust, no peer", async () => {
    const hba = await readFile(join(state.dir, "postgres", "pg_hba.conf"), "utf8");
    const rules = hba
      .split("\n")
      .map((l) => l.replace(/#.*/, "").trim())
      .filter((l) => l !== "");
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect(rule.split(/\s+/).at(-1)).toBe("scram-sha-256");
    expect(rules.map((r) => r.split(/\s+/)[0])).toContain("local");
  });

  test("both password files are the owner's alone (0600), and initdb's copy is gone", async () => {
    for (const name of ["postgres-superuser.password", "postgres-kiln.password"]) {
      const s = await stat(join(state.dir, name));
      expect((s.mode & 0o777).toString(8)).toBe("600");
      expect(s.uid).toBe(process.getuid?.());
    }
    expect(await readdir(socketDir)).not.toContain("initdb.pwfile");
    // Neither password reached the server's log.
    const log = await readFile(join(state.dir, "logs", "postgres.log"), "utf8");
    for (const url of [server.url, server.adminUrl]) {
      expect(log).not.toContain(decodeURIComponent(new URL(url).password));
    }
  });

  test("migrations run as the kiln role, which owns the database and everything they create", async () => {
    await runMigrations(server.url);
    const owners = await query(
      adminUrlFor("kiln"),
      `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'drizzle')
       UNION SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('public', 'drizzle')
       UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'kiln'`,
    );
    expect(owners.rows).toEqual([{ owner: "kiln" }]);
    const tables = await query(
      server.url,
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'",
    );
    expect(tables.rows[0].n).toBeGreaterThan(0);
  });
});

describe("postgres started with a superuser password file that does not fit", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function startedOnce(): Promise<{ dir: string; port: number; file: string }> {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    const server = await startPostgres({ stateDir: state.dir, port, fast: true });
    await server.stop();
    return { dir: state.dir, port, file: join(state.dir, "postgres-superuser.password") };
  }

  test("a changed password: the start fails at once with one line naming the file and the refusal", async () => {
    const { dir, port, file } = await startedOnce();
    const wrong = randomBytes(16).toString("hex");
    await writeFile(file, `${wrong}\n`);
    const started = Date.now();
    const err = await startPostgres({ stateDir: dir, port, fast: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupFailedError);
    expect((err as Error).message).toBe(
      `postgres refused the superuser password in ${file} (password authentication failed for user "postgres"); restore the file that belongs to ${join(dir, "postgres")}, or remove ${join(dir, "postgres")} to start over (this deletes the data)`,
    );
    // Not the 30 s readiness timeout: a refusal is final.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await isPortFree(port)).toBe(true);
  });

  test("a missing file: the start fails before the server runs, saying what to do", async () => {
    const { dir, port, file } = await startedOnce();
    await rm(file);
    const err = await startPostgres({ stateDir: dir, port, fast: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupFailedError);
    expect((err as Error).message).toBe(
      `postgres cannot log in: ${file} is missing, and the cluster in ${join(dir, "postgres")} needs that password; restore the file, or remove ${join(dir, "postgres")} to start over (this deletes the data)`,
    );
  });
});
