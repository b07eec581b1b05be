/**
 * `kiln-service migrate` (scripts/migrate.ts) as k8s/ runs it: an init container in every pod that
 * uses PostgreSQL, so several start at once on a fresh database. Against the real PostgreSQL of
 * the `infra` fixture.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { createKilnDatabase, tsxLoaderUrl } from "@kiln/infra";
import { integrationTest, randomToken, withAdmin } from "@kiln/testing";
import { repoRoot } from "../support/kiln-services.js";

const exec = promisify(execFile);

const migrate = (databaseUrl: string) =>
  exec(process.execPath, ["--import", tsxLoaderUrl(), join(repoRoot, "scripts", "migrate.ts")], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: "warn",
    },
    cwd: repoRoot,
  });

integrationTest(
  "migrators started together (one per pod) all succeed, and the schema is migrated once",
  async ({ infra }) => {
    const name = `kiln_migrate_${randomToken()}`;
    // Owned by the `kiln` role the migrators log in as, as k8s/README.md asks of a database.
    await createKilnDatabase(infra.servers.postgres, name);
    try {
      const url = infra.databaseUrlFor(name);
      // Each of these would race to create the same tables without the advisory lock.
      await Promise.all([migrate(url), migrate(url), migrate(url), migrate(url)]);
      const journal = JSON.parse(
        readFileSync(join(repoRoot, "migrations", "meta", "_journal.json"), "utf8"),
      ) as { entries: unknown[] };
      const applied = async () =>
        withAdmin(
          url,
          async (c) =>
            (await c.query("SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations")).rows[0]
              .n as number,
        );
      expect(await applied()).toBe(journal.entries.length);
      // A later pod finds nothing to do.
      await migrate(url);
      expect(await applied()).toBe(journal.entries.length);
      const tables = await withAdmin(
        url,
        async (c) =>
          (
            await c.query(
              "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
            )
          ).rows[0].n as number,
      );
      expect(tables).toBeGreaterThan(0);
    } finally {
      await withAdmin(infra.adminDatabaseUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    }
  },
);

integrationTest("a migrator without a database URL stops at once, naming it", async () => {
  const error = await exec(
    process.execPath,
    ["--import", tsxLoaderUrl(), join(repoRoot, "scripts", "migrate.ts")],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      cwd: repoRoot,
    },
  ).catch((e: { code: number; stderr: string }) => e);
  expect(error).toMatchObject({ code: 2 });
  expect((error as { stderr: string }).stderr).toMatch(/DATABASE_URL/);
});
