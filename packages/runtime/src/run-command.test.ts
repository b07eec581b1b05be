import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CommandFailedError, runChecked, runCommand } from "./run-command.js";

describe("runChecked", () => {
  it("gives the command's stdout and stderr, with this process's environment and its own", async () => {
    const result = await runChecked("sh", ["-c", 'echo "$KILN_TEST_VALUE"; echo note >&2'], {
      env: { KILN_TEST_VALUE: "out" },
    });
    expect(result).toEqual({ stdout: "out\n", stderr: "note" });
  });

  it("rejects naming the command and its stderr when it exits non-zero", async () => {
    await expect(runChecked("sh", ["-c", "echo broken >&2; exit 3"])).rejects.toThrow(
      "sh -c echo broken >&2; exit 3 failed: broken",
    );
    await expect(runChecked("sh", ["-c", "exit 4"])).rejects.toThrow("sh -c exit 4 failed: exit 4");
  });

  it("rejects with the command's stderr on the error, and stops a command past its timeout", async () => {
    const failure = await runChecked("sh", ["-c", "echo one >&2; echo two >&2; exit 3"]).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(CommandFailedError);
    expect((failure as CommandFailedError).stderr).toBe("one\ntwo");
    expect((failure as CommandFailedError).summary).toBe("two");
    const started = Date.now();
    await expect(runChecked("sh", ["-c", "sleep 30"], { timeoutMs: 200 })).rejects.toThrow(
      "sh -c sleep 30 failed: still running after 200 ms, stopped",
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("rejects naming the command when it cannot start", async () => {
    await expect(runChecked("kiln-no-such-command", ["x"])).rejects.toThrow(
      "kiln-no-such-command x failed: spawn kiln-no-such-command ENOENT",
    );
  });
});

describe("runCommand's stdout pipe", () => {
  it("streams stdout's bytes untouched into the caller's stream and ends it; stderr stays lines", async () => {
    // 4 MiB of every byte value (CR and LF included), more than a pipe holds: the command
    // waits while the stream is full, so it is read while the command runs.
    const program = `
      const b = Buffer.alloc(4 << 20);
      for (let i = 0; i < b.length; i++) b[i] = i % 251;
      process.stdout.write(b, () => console.error("written"));
    `;
    const expected = Buffer.alloc(4 << 20);
    for (let i = 0; i < expected.length; i++) expected[i] = i % 251;
    const stdout = new PassThrough();
    const lines: string[] = [];
    const run = runCommand({
      command: process.execPath,
      args: ["-e", program],
      stdout: { pipe: stdout },
      onLine: (line) => lines.push(line),
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stdout) chunks.push(chunk as Buffer);
    const result = await run;
    expect(result).toMatchObject({ exitCode: 0, aborted: false, stdout: "" });
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
    expect(lines).toEqual(["written"]);
  });
});

const runCommandModule = fileURLToPath(new URL("./run-command.ts", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts a node process that runs `sleep 60` through runCommand and prints the sleep's pid,
 * then kills that process with SIGKILL: what a runner killed mid-build leaves running.
 */
async function orphanOfKilledParent(options: string): Promise<number> {
  const script = `
    import { runCommand } from ${JSON.stringify(runCommandModule)};
    void runCommand({ command: "sh", args: ["-c", "echo $$; exec sleep 60"], onLine: (l) => process.stdout.write(l + "\\n"), ${options} });
  `;
  const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    parent.once("exit", (code) => reject(new Error(`parent exited (${code}) before the command`)));
  });
  parent.kill("SIGKILL");
  await new Promise((resolve) => parent.once("exit", resolve));
  return pid;
}

describe("runCommand's parentDeathSignal", () => {
  it("ends the command when the process that started it is killed", async () => {
    const pid = await orphanOfKilledParent(`parentDeathSignal: "SIGTERM"`);
    const until = Date.now() + 2_000;
    while (alive(pid) && Date.now() < until) await sleep(20);
    expect(alive(pid)).toBe(false);
  });

  it("leaves it running without (its own process group outlives the parent)", async () => {
    const pid = await orphanOfKilledParent("");
    try {
      await sleep(300);
      expect(alive(pid)).toBe(true);
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });
});
