import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, isPortFree, type SupervisorStatus } from "@kiln/infra";
import { descendantPids } from "@kiln/runtime";
import { kiln } from "./cli.js";
import { repoRoot } from "./kiln-services.js";

/**
 * `kiln up` run as a user runs it (the real CLI in its own process), on free ports under a
 * state dir of the test's, for the tests of `kiln up` itself. Plain code, no vitest import.
 */
export interface KilnUp {
  process: ChildProcess;
  stateDir: string;
  ports: { nats: number; postgres: number; registry: number; api: number; webhook: number };
  /** Everything it printed so far, stdout and stderr interleaved as they came. */
  output(): string;
  /** Resolves with its exit code once it has exited. */
  exited: Promise<number | null>;
  /** `kiln status -o json` for this state dir (null while it has written none). */
  status(): Promise<(SupervisorStatus & { running: boolean }) | null>;
  /** Every pid it runs now: itself, its children and theirs. */
  pids(): number[];
}

/** An api port whose eight neighbours (the workers' health ports and the metrics ports follow it) are free too. */
async function apiPortWithFreeNeighbours(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port > 65_000) continue;
    const free = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((d) => isPortFree(port + d)));
    if (free.every(Boolean)) return port;
  }
}

export async function startKilnUp(options: {
  stateDir: string;
  args?: string[];
  env?: Record<string, string>;
  /** @default 170_000 (the real services compile under tsx on the first start) */
  timeoutMs?: number;
}): Promise<KilnUp> {
  const ports = {
    nats: await freePort(),
    postgres: await freePort(),
    registry: await freePort(),
    api: await apiPortWithFreeNeighbours(),
    webhook: await freePort(),
  };
  let output = "";
  const up = spawn(
    process.execPath,
    [
      join(repoRoot, "packages", "cli", "bin", "kiln.mjs"),
      "up",
      ...(options.args ?? []),
      "--state-dir",
      options.stateDir,
      "--nats-port",
      String(ports.nats),
      "--postgres-port",
      String(ports.postgres),
      "--registry-port",
      String(ports.registry),
      "--api-port",
      String(ports.api),
      "--webhook-port",
      String(ports.webhook),
    ],
    { cwd: repoRoot, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  up.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + (options.timeoutMs ?? 170_000);
  while (!output.includes("Kiln is up.")) {
    if (up.exitCode !== null) throw new Error(`kiln up exited ${up.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      up.kill("SIGINT");
      throw new Error(`kiln up did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    process: up,
    stateDir: options.stateDir,
    ports,
    output: () => output,
    exited,
    status: async () => {
      const shown = await kiln({}, "status", "--state-dir", options.stateDir, "-o", "json");
      if (shown.stdout.trim() === "") return null;
      return JSON.parse(shown.stdout) as SupervisorStatus & { running: boolean };
    },
    pids: () => (up.pid === undefined ? [] : [up.pid, ...descendantPids(up.pid)]),
  };
}

type ShownProcess = SupervisorStatus["processes"][number];

/**
 * Kills `name` with SIGKILL and resolves with what `kiln status` shows once it runs again
 * under another pid (and with what it showed before); rejects after `timeoutMs`.
 */
export async function killAndAwaitRestart(
  up: KilnUp,
  name: string,
  timeoutMs = 60_000,
): Promise<{ before: ShownProcess; after: ShownProcess }> {
  const find = async () => (await up.status())?.processes.find((p) => p.name === name);
  const before = await find();
  if (before?.state !== "running" || before.pid === null)
    throw new Error(`${name} does not run: ${JSON.stringify(before)}`);
  process.kill(before.pid, "SIGKILL");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const after = await find();
    if (after?.state === "running" && after.pid !== before.pid) return { before, after };
    if (Date.now() > deadline)
      throw new Error(`${name} was not running again after ${timeoutMs} ms:\n${up.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Stops `up` (SIGINT, as Ctrl-C does) when it still runs; for afterEach. */
export async function stopKilnUp(up: KilnUp | undefined): Promise<void> {
  if (up === undefined || up.process.exitCode !== null || up.process.signalCode !== null) return;
  up.process.kill("SIGINT");
  await up.exited;
}

/**
 * Whether `pid` still runs. A zombie does not: it has exited and waits only for its parent
 * (init, once orphaned) to collect its status, which this machine's init does lazily.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Pids of the processes whose environment names `stateDir` as KILN_STATE_DIR (the services and what they ran). */
export function processesOfStateDir(stateDir: string): number[] {
  const needle = `KILN_STATE_DIR=${stateDir}\0`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (`${readFileSync(`/proc/${entry}/environ`, "latin1")}\0`.includes(needle))
        found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The lines of `output` that say a group of processes is being stopped, in order. */
export function stopGroups(output: string): string[][] {
  return [...output.matchAll(/^stopping (.+) \.\.\.$/gm)].map((m) => m[1]!.split(", "));
}
