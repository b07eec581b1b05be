import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, test } from "vitest";
import {
  freePort,
  PortInUseError,
  startPostgres,
  StartupFailedError,
  type PostgresServer,
} from "@kiln/infra";
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

describe("startPostgres", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(stateDir: string, port: number): Promise<PostgresServer> {
    const server = await startPostgres({ stateDir, port, fast: true });
    cleanups.push(() => server.stop());
    return server;
  }

  test("creates the cluster and the kiln database, and keeps the data across restarts", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();

    const first = await start(state.dir, port);
    const password = (await readFile(join(state.dir, "postgres-kiln.password"), "utf8")).trim();
    expect(first.url).toBe(`postgres://kiln:${password}@127.0.0.1:${port}/kiln`);
    await query(first.url, "CREATE TABLE survivors (name text)");
    await query(first.url, "INSERT INTO survivors VALUES ('kiln')");
    if (process.getuid?.() === 0) {
      // Running as root: the server must run as Debian's unprivileged postgres user.
      const owner = (await stat(join(state.dir, "postgres", "PG_VERSION"))).uid;
      expect(owner).not.toBe(0);
    }
    await first.stop();
    await first.stop(); // idempotent

    const second = await start(state.dir, port);
    const rows = await query(second.url, "SELECT name FROM survivors");
    expect(rows.rows).toEqual([{ name: "kiln" }]);
  });

  test("names the port and the flag when the port is busy", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    await start(state.dir, port);

    const err = await startPostgres({ stateDir: state.dir, port, portHint: "--pg-port" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as Error).message).toBe(
      `port ${port} for postgres is already in use (choose another with --pg-port)`,
    );
  });

  test("fails with the server's own log when the data dir is already in use", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    await start(state.dir, await freePort());

    const err = await startPostgres({
      stateDir: state.dir,
      port: await freePort(),
      fast: true,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupFailedError);
    expect((err as StartupFailedError).reason).toBe("StartupFailed");
    expect((err as StartupFailedError).logTail).toMatch(
      /lock file "postmaster.pid" already exists/,
    );
  });
});
