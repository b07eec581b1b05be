/**
 * A DATABASE_URL whose password PostgreSQL refuses: a service exits at once with one line that
 * says what was refused (PostgreSQL's own words), and the password appears nowhere.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { StartupFailedError, tsxLoaderUrl } from "@kiln/infra";
import { integrationTest as test } from "@kiln/testing";
import { repoRoot, startKiln, type RunningKiln } from "../support/kiln-services.js";

const exec = promisify(execFile);

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** The test's database URL with another password. */
function withWrongPassword(url: string): { url: string; password: string } {
  const wrong = new URL(url);
  wrong.password = "not-the-password-4b1d";
  return { url: wrong.toString(), password: wrong.password };
}

test("api and scheduler given a wrong database password exit at once, naming the refusal", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const wrong = withWrongPassword(database.url);
  for (const service of ["api", "scheduler"] as const) {
    const error = await startKiln({
      infra,
      databaseUrl: wrong.url,
      subjectPrefix,
      services: [service],
    }).then(
      (kiln) => {
        running = kiln;
        throw new Error(`${service} started`);
      },
      (e: unknown) => e,
    );
    // "exited while starting", not "did not answer in time": it stopped on its own.
    expect(error).toBeInstanceOf(StartupFailedError);
    const message = (error as Error).message;
    expect(message).toContain(`${service} exited while starting`);
    const line = message.split("\n").find((l) => l.startsWith(`${service}: failed to start:`));
    expect(line).toBe(
      `${service}: failed to start: PostgreSQL at 127.0.0.1:${infra.servers.postgres.port}/${database.name} refused the login: password authentication failed for user "kiln"`,
    );
    expect(message).not.toContain(wrong.password);
  }
});

test("a migrator given a wrong database password stops at once, naming the refusal", async ({
  infra,
  database,
}) => {
  const wrong = withWrongPassword(database.url);
  const error = await exec(
    process.execPath,
    ["--import", tsxLoaderUrl(), join(repoRoot, "scripts", "migrate.ts")],
    {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        DATABASE_URL: wrong.url,
        LOG_LEVEL: "silent",
      },
      cwd: repoRoot,
    },
  ).catch((e: { code: number; stdout: string; stderr: string }) => e);
  expect(error).toMatchObject({
    code: 1,
    stderr: `migrate: failed to start: PostgreSQL at 127.0.0.1:${infra.servers.postgres.port}/${database.name} refused the login: password authentication failed for user "kiln"\n`,
  });
  expect(JSON.stringify(error)).not.toContain(wrong.password);
});
