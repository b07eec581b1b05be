/**
 * `kiln up --demo` for real (the six services, NATS, PostgreSQL, the registry), with parts of
 * it killed as a crash would: each comes back under a new pid, `kiln status` says so, and the
 * demo still builds afterwards. Then SIGTERM: everything stops in Kiln's order (intake,
 * runners, the other services, registry, NATS, PostgreSQL), and no process of it is left.
 * The stand-in-service version (faster, and the failure that stops `kiln up`) is
 * test/cli/up-supervision.int.test.ts.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { isPortFree } from "@kiln/infra";
import { kiln } from "../support/cli.js";
import {
  isAlive,
  killAndAwaitRestart,
  processesOfStateDir,
  startKilnUp,
  stopGroups,
  stopKilnUp,
  type KilnUp,
} from "../support/kiln-up.js";

let up: KilnUp | undefined;
let work: string | undefined;
afterEach(async () => {
  await stopKilnUp(up);
  up = undefined;
  if (work && process.env.KILN_KEEP_TEST_STATE === undefined)
    await rm(work, { recursive: true, force: true });
  work = undefined;
});

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return env;
}

/** The time (ms) of the last line of a service's pino log with message `msg`. */
async function lastLogTime(logsDir: string, service: string, msg: string): Promise<number> {
  const lines = (await readFile(join(logsDir, `${service}.log`), "utf8")).split("\n");
  const times = lines.flatMap((line) => {
    try {
      // pino's isoTime: "2025-01-01T12:00:00.000Z".
      const entry = JSON.parse(line) as { msg?: string; time?: string };
      return entry.msg === msg && entry.time !== undefined ? [Date.parse(entry.time)] : [];
    } catch {
      return [];
    }
  });
  if (times.length === 0) throw new Error(`${service} never logged ${JSON.stringify(msg)}`);
  return times.at(-1)!;
}

test(
  "kiln up restarts a killed build-runner, NATS and PostgreSQL, the demo builds after each, and SIGTERM stops it all in order leaving no process",
  { timeout: 1_200_000 },
  async () => {
    work = await mkdtemp(join(tmpdir(), "kiln-up-e2e-"));
    // As root, PostgreSQL runs as the postgres user and must pass through.
    await chmod(work, 0o711);
    const stateDir = join(work, "state");
    up = await startKilnUp({ stateDir, args: ["--demo"] });
    const kilnUp = up;
    const env = parseEnvFile(await readFile(join(stateDir, "env"), "utf8"));

    /**
     * Builds the demo until one build completes. Right after NATS or PostgreSQL came back a
     * service may still be reconnecting (its own retries are not kiln up's), so a refused
     * request is tried again; a build that starts must complete.
     */
    const buildsAgain = async (after: string) => {
      const deadline = Date.now() + 240_000;
      for (let attempt = 1; ; attempt++) {
        const built = await kiln(env, "start-build", "hello", "--follow");
        if (built.code === 0) {
          expect(built.stdout).toContain("Pushed ");
          return attempt;
        }
        if (Date.now() > deadline)
          throw new Error(
            `no build completed after ${after}:\n${built.stdout}\n${built.stderr}\n${kilnUp.output()}`,
          );
        await new Promise((r) => setTimeout(r, 2_000));
      }
    };
    expect(await buildsAgain("the start")).toBe(1);
    // The demo's shared builder templates, for `kiln new-build` (test/cli/new-build.int.test.ts builds with them).
    const templates = await kiln(env, "get", "templates", "-o", "name");
    expect(templates.stdout).toBe(
      "buildertemplate.kiln.dev/shell\nbuildertemplate.kiln.dev/static\n",
    );

    // The build-runner (idle), killed: a new pid within seconds, shown by `kiln status`.
    const runner = await killAndAwaitRestart(kilnUp, "build-runner", 60_000);
    expect(runner.after.restarts).toBe(1);
    expect(isAlive(runner.before.pid!)).toBe(false);
    const table = await kiln({}, "status", "--state-dir", stateDir);
    expect(table.stdout).toMatch(
      new RegExp(
        `^build-runner\\s+running\\s+${runner.after.pid}\\s+\\S+\\s+1\\s+signal SIGKILL`,
        "m",
      ),
    );
    expect(kilnUp.output()).toMatch(/build-runner exited \(signal SIGKILL\)/);
    await buildsAgain("the build-runner was killed");

    // NATS: restarted with the same config; the services reconnect (or, if one exits over it,
    // are restarted too: what `kiln up` must do either way).
    const nats = await killAndAwaitRestart(kilnUp, "nats", 60_000);
    expect(nats.after.restarts).toBe(1);
    await buildsAgain("NATS was killed");

    // PostgreSQL: restarted on the same data dir.
    const postgres = await killAndAwaitRestart(kilnUp, "postgres", 60_000);
    expect(postgres.after.restarts).toBe(1);
    await buildsAgain("PostgreSQL was killed");
    // Whatever else exited over these outages (a service's own bug, not kiln up's) was restarted.
    const status = (await kilnUp.status())!;
    expect(status.processes.filter((p) => p.state !== "running")).toEqual([]);

    // SIGTERM while a build runs that outlasts the 10 s `kiln up` used to give the runner:
    // the runner gets its whole grace (20 s) to finish it, with the scheduler, NATS and the
    // registry still there to record and push it.
    const manifest = join(work, "slow.json");
    await writeFile(
      manifest,
      JSON.stringify({
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "slow" },
        spec: {
          source: { dockerfile: `FROM ${env.KILN_REGISTRY}/base/busybox:latest\nRUN sleep 12\n` },
          strategy: { type: "Docker", dockerStrategy: { noCache: true } },
          output: { to: { kind: "ImageStreamTag", name: "hello:slow" } },
        },
      }),
    );
    expect((await kiln(env, "apply", "-f", manifest)).code).toBe(0);
    expect((await kiln(env, "start-build", "slow")).code).toBe(0);
    const runnerLog = join(stateDir, "logs", "build-runner.log");
    const runnerSaid = async (msg: string) =>
      (await readFile(runnerLog, "utf8"))
        .split("\n")
        .some((line) => line.includes('"build":"slow-1"') && line.includes(`"msg":"${msg}"`));
    await expect.poll(() => runnerSaid("build started"), { timeout: 60_000 }).toBe(true);

    // SIGTERM: everything stops, in order, and nothing of Kiln is left.
    const pids = kilnUp.pids();
    expect(pids.length).toBeGreaterThan(9);
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
    // The services' own logs agree: each group began its shutdown once the one before had ended.
    const logs = join(stateDir, "logs");
    const begun = (s: string) => lastLogTime(logs, s, "shutting down");
    const ended = (s: string) => lastLogTime(logs, s, "stopped");
    const intakeEnded = Math.max(await ended("api"), await ended("webhook-receiver"));
    expect(await begun("build-runner")).toBeGreaterThanOrEqual(intakeEnded);
    const runnerEnded = await ended("build-runner");
    for (const s of ["scheduler", "image-watcher", "deployer"])
      expect(await begun(s)).toBeGreaterThanOrEqual(runnerEnded);
    // None was cut off: each ended by itself, within its grace; the runner once its build was done.
    expect(kilnUp.output()).not.toContain("it outlived its stop timeout");
    expect(kilnUp.output()).toMatch(/^ {2}build-runner stopped \(code 143\) in (1\d|2\d)s$/m);
    expect(
      (await readFile(runnerLog, "utf8"))
        .split("\n")
        .some((line) => line.includes('"build":"slow-1"') && line.includes('"phase":"Complete"')),
    ).toBe(true);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(processesOfStateDir(stateDir)).toEqual([]);
    for (const port of Object.values(kilnUp.ports)) expect(await isPortFree(port)).toBe(true);
  },
);
