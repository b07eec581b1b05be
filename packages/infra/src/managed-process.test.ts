import { describe, expect, test } from "vitest";
import { ManagedProcess } from "./managed-process.js";

describe("ManagedProcess", () => {
  test("kills a process that ignores the stop signal once the timeout passes", async () => {
    const proc = new ManagedProcess({
      name: "stubborn",
      command: "/bin/sh",
      args: ["-c", "trap '' TERM; while :; do sleep 0.1; done"],
    });
    await proc.start();
    // Let the shell install its trap before we signal it.
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const exit = await proc.stop({ timeoutMs: 300 });
    expect(exit.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await proc.stop()).toBe(exit);
    expect(proc.running).toBe(false);
  });

  test("rejects start when the program does not exist", async () => {
    const proc = new ManagedProcess({ name: "ghost", command: "/nonexistent/ghost", args: [] });
    await expect(proc.start()).rejects.toThrow(/ENOENT/);
    expect((await proc.exited).error).toBeDefined();
  });
});
