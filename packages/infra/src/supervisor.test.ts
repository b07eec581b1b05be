import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ManagedProcess } from "./managed-process.js";
import { Supervisor, type SupervisorEvent } from "./supervisor.js";
import { readSupervisorStatus } from "./supervisor-status.js";

let dir: string;
let supervisor: Supervisor | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-supervisor-"));
});
afterEach(async () => {
  await supervisor?.stop();
  supervisor = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A start that runs `script` under sh, logging to `<dir>/<name>.log`. */
function shell(name: string, script: string) {
  const logFile = join(dir, `${name}.log`);
  return {
    name,
    logFile,
    stopTimeoutMs: 2_000,
    start: async () => {
      const proc = new ManagedProcess({ name, command: "/bin/sh", args: ["-c", script], logFile });
      await proc.start();
      return proc;
    },
  };
}

function recording() {
  const events: SupervisorEvent[] = [];
  return { events, onEvent: (e: SupervisorEvent) => events.push(e) };
}

const quick = { backoff: { baseMs: 20, maxMs: 100 } };

describe("Supervisor", () => {
  test("starts a process that was killed again with its own start, and says how it ended", async () => {
    const { events, onEvent } = recording();
    const statusFile = join(dir, "status.json");
    supervisor = new Supervisor({ policy: quick, onEvent, statusFile });
    const first = await supervisor.add(shell("worker", "echo working; exec sleep 30"));
    await new Promise((r) => setTimeout(r, 100));
    process.kill(first.pid!, "SIGKILL");

    // Between the exit and the restart the worker may be no process at all: wait for the new one.
    await expect
      .poll(() => {
        const now = supervisor!.process("worker");
        return now?.running === true && now.pid !== first.pid;
      })
      .toBe(true);
    const second = supervisor.process("worker")!;
    expect(events.map((e) => e.type)).toEqual(["exited", "restarted"]);
    expect(events[0]).toMatchObject({
      name: "worker",
      exit: { signal: "SIGKILL" },
      logTail: expect.stringContaining("working"),
      restartInMs: 20,
    });
    expect(events[1]).toMatchObject({ name: "worker", pid: second.pid, restarts: 1 });

    await supervisor.flushStatus();
    const status = await readSupervisorStatus(statusFile);
    expect(status).toMatchObject({
      pid: process.pid,
      stoppedAt: null,
      processes: [
        {
          name: "worker",
          state: "running",
          pid: second.pid,
          restarts: 1,
          lastExit: { code: null, signal: "SIGKILL" },
          logFile: join(dir, "worker.log"),
        },
      ],
    });
    expect((await stat(statusFile)).mode & 0o777).toBe(0o600);
  });

  test("gives up on a process that keeps exiting soon after its start, naming how and the end of its log", async () => {
    const { events, onEvent } = recording();
    supervisor = new Supervisor({ policy: { ...quick, maxFastExits: 3 }, onEvent });
    await supervisor.add(shell("broken", "echo 'config: PORT must be a number' >&2; exit 3"));

    const error = await supervisor.gaveUp;
    expect(error.reason).toBe("KeepsFailing");
    expect(error.process).toBe("broken");
    expect(error.lastFailure).toBe("code 3");
    expect(error.logTail).toContain("config: PORT must be a number");
    expect(error.message).toMatch(/^broken keeps failing: it stopped 3 times in a row/);
    expect(events.map((e) => e.type)).toEqual([
      "exited",
      "restarted",
      "exited",
      "restarted",
      "gave-up",
    ]);
    expect(supervisor.status().processes[0]).toMatchObject({ state: "failed", restarts: 2 });
  });

  test("retries a restart whose start fails, then runs what it started", async () => {
    const { events, onEvent } = recording();
    supervisor = new Supervisor({ policy: quick, onEvent });
    const spec = shell("flaky", "exec sleep 30");
    let starts = 0;
    const first = await supervisor.add({
      ...spec,
      start: () => {
        starts += 1;
        return starts === 2 ? Promise.reject(new Error("port busy\nmore")) : spec.start();
      },
    });
    process.kill(first.pid!, "SIGKILL");
    await expect
      .poll(() => events.map((e) => e.type))
      .toEqual(["exited", "start-failed", "restarted"]);
    expect(starts).toBe(3);
    expect(supervisor.process("flaky")?.running).toBe(true);
  });

  test("stops group by group in the given order, the next group only once the last has exited", async () => {
    const { events, onEvent } = recording();
    supervisor = new Supervisor({ onEvent });
    const trace = join(dir, "trace");
    // Each takes 300 ms to stop after SIGTERM, writing when it got it and when it is done.
    const slow = (name: string) =>
      shell(
        name,
        `trap 'echo "${name} term" >> ${trace}; sleep 0.3; echo "${name} exit" >> ${trace}; exit 0' TERM; while :; do sleep 0.05; done`,
      );
    for (const name of ["c", "b", "a", "loose"]) await supervisor.add(slow(name));
    await new Promise((r) => setTimeout(r, 200));

    await supervisor.stop([["a", "b"], ["c"]]);
    const lines = (await readFile(trace, "utf8")).trim().split("\n");
    const at = (line: string) => lines.indexOf(line);
    // Processes no group names go first; then a and b together; c only after both exited.
    expect(at("loose exit")).toBeLessThan(Math.min(at("a term"), at("b term")));
    expect(Math.max(at("a term"), at("b term"))).toBeLessThan(Math.min(at("a exit"), at("b exit")));
    expect(Math.max(at("a exit"), at("b exit"))).toBeLessThan(at("c term"));
    expect(
      events
        .filter((e) => e.type === "stopping")
        .map((e) => (e.type === "stopping" ? e.names : [])),
    ).toEqual([["loose"], ["a", "b"], ["c"]]);
    expect(events.some((e) => e.type === "exited")).toBe(false);
    expect(supervisor.status().processes.every((p) => p.state === "stopped")).toBe(true);
    expect(supervisor.status().stoppedAt).not.toBeNull();
  });

  test("a stop during the wait before a restart starts nothing again", async () => {
    const { events, onEvent } = recording();
    supervisor = new Supervisor({ policy: { backoff: { baseMs: 10_000 } }, onEvent });
    const proc = await supervisor.add(shell("waiting", "exec sleep 30"));
    process.kill(proc.pid!, "SIGKILL");
    await expect.poll(() => events.map((e) => e.type)).toEqual(["exited"]);

    const begun = Date.now();
    await supervisor.stop();
    expect(Date.now() - begun).toBeLessThan(2_000);
    expect(events.map((e) => e.type)).toEqual(["exited"]);
    expect(supervisor.status().processes[0]).toMatchObject({ state: "stopped", pid: null });
  });
});
