/**
 * `kiln up` supervising: the real CLI, the real NATS, PostgreSQL and registry, and stand-in
 * services (KILN_SERVICES_DIR) that answer /healthz, note when they get SIGTERM and when they
 * are done, and refuse to start while a marker file says so. What is checked is what a user
 * sees: whatever is killed runs again under a new pid, `kiln status` says so, one that keeps
 * failing stops Kiln with its reason, and SIGTERM stops everything in order, leaving nothing.
 * The same with the real services and builds: test/e2e/up-supervision.int.test.ts.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, expect, test } from "vitest";
import { isPortFree, kilnServiceNames } from "@kiln/infra";
import { kiln } from "../support/cli.js";
import {
  isAlive,
  killAndAwaitRestart,
  startKilnUp,
  stopGroups,
  stopKilnUp,
  type KilnUp,
} from "../support/kiln-up.js";
import { listenVariables } from "../support/service-config.js";

let up: KilnUp | undefined;
let work: string | undefined;
afterEach(async () => {
  await stopKilnUp(up);
  up = undefined;
  if (work) await rm(work, { recursive: true, force: true });
  work = undefined;
});

/** A stand-in service: /healthz, a note in `<state dir>/stops` at SIGTERM and at its exit 300 ms later. */
function stubService(name: string, portVariable: string): string {
  return `import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
const dir = process.env.KILN_STATE_DIR;
const marker = dir + "/break-${name}";
if (existsSync(marker)) {
  console.error("stub ${name}: cannot start: " + readFileSync(marker, "utf8").trim());
  process.exit(1);
}
console.log("stub ${name} started");
createServer((req, res) => res.end("ok")).listen(Number(process.env.${portVariable}), "127.0.0.1");
process.on("SIGTERM", () => {
  appendFileSync(dir + "/stops", "${name} term\\n");
  // A real service takes a moment to stop: the next group must wait for it.
  setTimeout(() => {
    appendFileSync(dir + "/stops", "${name} exit\\n");
    process.exit(143);
  }, 300);
});
`;
}

async function kilnUpWithStubs(): Promise<KilnUp> {
  work = await mkdtemp(join(tmpdir(), "kiln-up-supervision-"));
  // As root, postgres runs as the postgres user and must pass through (mkdtemp makes 0700).
  await chmod(work, 0o711);
  const servicesDir = join(work, "services");
  for (const name of kilnServiceNames) {
    await mkdir(join(servicesDir, name, "src"), { recursive: true });
    await writeFile(
      join(servicesDir, name, "src", "main.ts"),
      stubService(name, listenVariables[name].port.at(-1)!),
    );
  }
  up = await startKilnUp({
    stateDir: join(work, "state"),
    env: { KILN_SERVICES_DIR: servicesDir },
    timeoutMs: 120_000,
  });
  return up;
}

async function processOf(kilnUp: KilnUp, name: string) {
  return (await kilnUp.status())?.processes.find((p) => p.name === name);
}

/** Kills `name` and checks what `kiln status` shows once it runs again: a new pid, one more restart. */
async function killAndCheckRestart(kilnUp: KilnUp, name: string) {
  const { before, after } = await killAndAwaitRestart(kilnUp, name, 30_000);
  expect(after.restarts).toBe(before.restarts + 1);
  expect(after.lastExit).toMatchObject({ signal: "SIGKILL" });
  expect(isAlive(before.pid!)).toBe(false);
  return after;
}

test("kiln up starts again a service, NATS, PostgreSQL or the registry that was killed, kiln status shows it, and SIGTERM stops everything in order", async () => {
  const kilnUp = await kilnUpWithStubs();
  const status = (await kilnUp.status())!;
  expect(status.running).toBe(true);
  expect(status.processes.map((p) => [p.name, p.state, p.restarts])).toEqual(
    ["nats", "postgres", "registry", ...kilnServiceNames].map((n) => [n, "running", 0]),
  );

  // A second `kiln up` on this state dir is refused before it starts anything.
  const second = await kiln({}, "up", "--state-dir", kilnUp.stateDir);
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(
    `error: kiln up is already running with the state dir ${kilnUp.stateDir} (pid ${status.pid})`,
  );

  // A service: a new pid within seconds, and the terminal says why it went.
  const scheduler = await killAndCheckRestart(kilnUp, "scheduler");
  expect(kilnUp.output()).toMatch(
    /scheduler exited \(signal SIGKILL\) after \S+; starting it again in 500ms/,
  );
  expect(kilnUp.output()).toContain("stub scheduler started");
  expect(kilnUp.output()).toMatch(/scheduler is running again \(pid \d+, restart 1\)/);
  const table = await kiln({}, "status", "--state-dir", kilnUp.stateDir);
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(
    new RegExp(`^scheduler\\s+running\\s+${scheduler.pid}\\s+\\S+\\s+1\\s+signal SIGKILL`, "m"),
  );

  // NATS, with the same config: it greets clients on the same port again.
  await killAndCheckRestart(kilnUp, "nats");
  expect(await isPortFree(kilnUp.ports.nats)).toBe(false);

  // PostgreSQL, on the same data dir: the same role and password let in.
  await killAndCheckRestart(kilnUp, "postgres");
  const env = await readFile(join(kilnUp.stateDir, "env"), "utf8");
  const databaseUrl = /^DATABASE_URL="?([^"\n]+)"?$/m.exec(env)![1]!;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'builds'",
    );
    expect(tables.rows[0]!.n).toBe(1);
  } finally {
    await client.end();
  }

  // The registry, with its config: Kiln's account gets in.
  await killAndCheckRestart(kilnUp, "registry");
  const password = (await readFile(join(kilnUp.stateDir, "registry", "password"), "utf8")).trim();
  const v2 = await fetch(`http://127.0.0.1:${kilnUp.ports.registry}/v2/`, {
    headers: { authorization: `Basic ${Buffer.from(`kiln:${password}`).toString("base64")}` },
  });
  expect(v2.status).toBe(200);

  // SIGTERM: intake, runners, the other services, registry, NATS, PostgreSQL last.
  const pids = kilnUp.pids();
  kilnUp.process.kill("SIGTERM");
  expect(await kilnUp.exited).toBe(0);
  expect(stopGroups(kilnUp.output())).toEqual([
    ["api", "webhook-receiver"],
    ["build-runner"],
    ["scheduler", "image-watcher", "deployer"],
    ["registry"],
    ["nats"],
    ["postgres"],
  ]);
  // What the services noted: a group got SIGTERM only after the one before had exited.
  const stops = (await readFile(join(kilnUp.stateDir, "stops"), "utf8")).trim().split("\n");
  const at = (line: string) => stops.indexOf(line);
  expect(Math.max(at("api exit"), at("webhook-receiver exit"))).toBeLessThan(
    at("build-runner term"),
  );
  expect(at("build-runner exit")).toBeLessThan(
    Math.min(at("scheduler term"), at("image-watcher term"), at("deployer term")),
  );
  expect(stops).toHaveLength(12);
  expect(pids.filter(isAlive)).toEqual([]);
  for (const port of Object.values(kilnUp.ports)) expect(await isPortFree(port)).toBe(true);

  const after = await kiln({}, "status", "--state-dir", kilnUp.stateDir);
  expect(after.code).toBe(3);
  expect(after.stdout).toMatch(/kiln up is not running under .*: it stopped/);
  expect(after.stderr).toContain("kiln up is not running");
});

test("a service that keeps failing stops kiln up, which names it and the last lines of its log and exits non-zero", async () => {
  const kilnUp = await kilnUpWithStubs();
  const pids = kilnUp.pids();
  const watcher = (await processOf(kilnUp, "image-watcher"))!;
  // From now on it cannot start, as with a config that went bad.
  await writeFile(
    join(kilnUp.stateDir, "break-image-watcher"),
    "IMAGE_WATCHER_PORT: must be a port\n",
  );
  process.kill(watcher.pid!, "SIGKILL");

  const code = await kilnUp.exited;
  expect(code).not.toBe(0);
  const output = kilnUp.output();
  expect(output).toMatch(/image-watcher did not start again; trying again in/);
  expect(output).toMatch(
    /error: image-watcher keeps failing: it stopped 5 times in a row, each within 10s of its start/,
  );
  expect(output).toContain(`(log: ${join(kilnUp.stateDir, "logs", "image-watcher.log")})`);
  // The last lines of its log, after the error line.
  expect(output.slice(output.indexOf("error: image-watcher keeps failing"))).toContain(
    "stub image-watcher: cannot start: IMAGE_WATCHER_PORT: must be a port",
  );
  // Everything else was stopped in order, and nothing is left.
  expect(stopGroups(output)).toEqual([
    ["api", "webhook-receiver"],
    ["build-runner"],
    ["scheduler", "deployer"],
    ["registry"],
    ["nats"],
    ["postgres"],
  ]);
  expect(pids.filter(isAlive)).toEqual([]);
  const status = await kiln({}, "status", "--state-dir", kilnUp.stateDir);
  expect(status.code).toBe(3);
  expect(status.stdout).toMatch(/^image-watcher\s+failed\s+/m);
});
