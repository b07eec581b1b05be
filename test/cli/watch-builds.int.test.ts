/**
 * `kiln get builds -w` and `kiln console` as a user runs them: the CLI as a child process against
 * the real api, scheduler and build-runner (real NATS and PostgreSQL). The runner uses the noop
 * engine, each build taking 3 s: what is under test is how the CLI follows the api's events
 * stream, not a build. The watcher prints each build's New, Pending, Running and Complete rows as
 * they happen; with the api stopped while a build ends and started again, it reconnects and
 * prints the row it missed, once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, expect, test as plainTest } from "vitest";
import { integrationTest as test } from "@kiln/testing";
import { kiln } from "../support/cli.js";
import { api, repoRoot, startKiln, type RunningKiln } from "../support/kiln-services.js";

const kilnBin = join(repoRoot, "packages", "cli", "bin", "kiln.mjs");

let running: RunningKiln | undefined;
const watchers: ChildProcess[] = [];
afterEach(async () => {
  for (const watcher of watchers.splice(0)) watcher.kill("SIGKILL");
  await running?.stop();
  running = undefined;
});

/** A `kiln` child that keeps running; its output so far is read with `stdout()` / `stderr()`. */
function startWatcher(env: Record<string, string>, ...args: string[]) {
  let stdout = "";
  let stderr = "";
  const child = spawn(process.execPath, [kilnBin, ...args], {
    env: { ...process.env, ...env },
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  watchers.push(child);
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** `NAME STATUS` of each table row, in the order printed (the header left out). */
function statuses(stdout: string): string[] {
  return stdout
    .split("\n")
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const cells = line.split(/ {3,}/);
      return `${cells[0]} ${cells[3]}`;
    });
}

test("get builds -w prints each change of a build as it runs, and catches up after an api restart", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  // No runner at first, so that the first build is seen waiting for one (a runner that takes a
  // build at once may report Running before the scheduler's Pending, which is then not sent).
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler"],
    extraEnv: { BUILD_RUNNER_ENGINE: "noop", BUILD_RUNNER_NOOP_BUILD_MS: "3000" },
  });
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "hello" }, spec: {} },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "hello" },
        spec: {
          // The noop engine fetches nothing: the source only has to be valid.
          source: { git: { uri: "https://git.example.invalid/hello.git", ref: "main" } },
          strategy: { type: "Docker", dockerStrategy: {} },
          output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
        },
      },
    ],
  });
  expect(applied.status, applied.text).toBe(200);

  const table = startWatcher(running.cliEnv, "get", "builds", "-w");
  const names = startWatcher(
    running.cliEnv,
    "get",
    "builds",
    "--watch",
    "--bc",
    "hello",
    "-o",
    "name",
  );
  const other = startWatcher(running.cliEnv, "get", "builds", "-w", "--bc", "other");
  // Said once the stream is open and the (empty) list read: from here on no change is missed.
  for (const watcher of [table, names, other])
    await expect
      .poll(watcher.stderr, { timeout: 30_000 })
      .toContain("No resources found in default namespace.");

  const instantiate = () =>
    call("POST", "/apis/v1/namespaces/default/buildconfigs/hello/instantiate", {});
  expect((await instantiate()).status).toBe(201);
  await expect
    .poll(() => statuses(table.stdout()), { timeout: 30_000 })
    .toEqual(["hello-1 New", "hello-1 Pending"]);
  await running.startRunner({ logName: "runner" });
  await expect
    .poll(() => statuses(table.stdout()), { timeout: 60_000 })
    .toEqual(["hello-1 New", "hello-1 Pending", "hello-1 Running", "hello-1 Complete"]);
  const [header, ...rows] = table.stdout().trimEnd().split("\n");
  expect(header).toMatch(/^NAME +TYPE +FROM +STATUS +STARTED +DURATION$/);
  // Later rows stay under the first one's columns.
  for (const row of rows) expect(row.indexOf("Docker"), row).toBe(header!.indexOf("TYPE"));
  expect(rows[3]).toMatch(/^hello-1 +Docker +Git +Complete +\d+ seconds? ago +[34]s$/);
  await expect.poll(names.stdout, { timeout: 10_000 }).toBe("build.kiln.dev/hello-1\n".repeat(4));

  // The api stops while hello-2 runs, and the build ends before it is back.
  expect((await instantiate()).status).toBe(201);
  await expect
    .poll(() => statuses(table.stdout()), { timeout: 60_000 })
    .toContain("hello-2 Running");
  await running.processes.get("api")?.stop({ timeoutMs: 30_000 });
  await expect.poll(table.stderr, { timeout: 10_000 }).toContain("lost the event stream");
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    await expect
      .poll(
        async () =>
          (await db.query("select phase from builds where name = 'hello-2'")).rows[0]?.phase,
        { timeout: 30_000 },
      )
      .toBe("Complete");
  } finally {
    await db.end();
  }
  expect(statuses(table.stdout())).not.toContain("hello-2 Complete");
  await running.restart("api"); // starts it again on the same port
  await expect
    .poll(() => heardOf(table.stdout(), "hello-2"), { timeout: 30_000 })
    .toEqual(["New", "Running", "Complete"]);
  expect(statuses(table.stdout()).slice(0, 4)).toEqual([
    "hello-1 New",
    "hello-1 Pending",
    "hello-1 Running",
    "hello-1 Complete",
  ]);

  // Still watching after the restart: a third build is heard live.
  expect((await instantiate()).status).toBe(201);
  await expect
    .poll(() => heardOf(table.stdout(), "hello-3"), { timeout: 60_000 })
    .toEqual(["New", "Running", "Complete"]);
  // The name watcher printed a line for each row of its BuildConfig's builds; the other, none.
  await expect.poll(names.stdout, { timeout: 10_000 }).toBe(
    statuses(table.stdout())
      .map((row) => `build.kiln.dev/${row.split(" ")[0]}\n`)
      .join(""),
  );
  expect(other.stdout()).toBe("");

  // It runs until stopped, like kubectl get -w.
  expect(table.child.exitCode).toBeNull();
  table.child.kill("SIGTERM");
  expect((await table.exited).signal).toBe("SIGTERM");
  expect(table.stderr()).not.toContain("error");
});

/**
 * The phases printed for `build`, in order, Pending left out: whether a build with a runner
 * free is seen Pending depends on who reports first. Each printed once.
 */
function heardOf(stdout: string, build: string): string[] {
  return statuses(stdout)
    .filter((row) => row.startsWith(`${build} `))
    .map((row) => row.slice(build.length + 1))
    .filter((phase) => phase !== "Pending");
}

plainTest("console prints the console's URL, and opens it only in a desktop session", async () => {
  const env = { KILN_API_URL: "http://127.0.0.1:18999", KILN_NAMESPACE: "team-a" };
  const url = "http://127.0.0.1:18999/console/#/ns/team-a/buildconfigs";

  // No display (over ssh, in CI): the URL alone, exit 0, whatever xdg-open there is.
  const headless = await kiln({ ...env, DISPLAY: "", WAYLAND_DISPLAY: "" }, "console");
  expect(headless).toEqual({ code: 0, stdout: `${url}\n`, stderr: "" });

  // A desktop session whose xdg-open is a script that writes down what it was given.
  const dir = await mkdtemp(join(tmpdir(), "kiln-console-"));
  try {
    const opened = join(dir, "opened");
    await writeFile(join(dir, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${opened}'\n`);
    await chmod(join(dir, "xdg-open"), 0o755);
    const desktop = await kiln(
      { ...env, DISPLAY: ":99", PATH: `${dir}:${process.env.PATH ?? ""}` },
      "console",
      "-n",
      "team-b",
    );
    const teamB = url.replace("team-a", "team-b");
    expect(desktop.code).toBe(0);
    expect(desktop.stdout).toBe(`${teamB}\n`);
    await expect
      .poll(() => readFile(opened, "utf8").catch(() => ""), { timeout: 10_000 })
      .toBe(`${teamB}\n`);

    // A desktop without xdg-open (or a browser) is no failure either.
    const bare = await kiln(
      { ...env, WAYLAND_DISPLAY: "wayland-0", PATH: dir.replace(/$/, "/none") },
      "console",
    );
    expect(bare).toEqual({ code: 0, stdout: `${url}\n`, stderr: "" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
