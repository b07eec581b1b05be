import { describe, expect, it } from "vitest";
import { runChecked } from "./run-command.js";

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

  it("rejects naming the command when it cannot start", async () => {
    await expect(runChecked("kiln-no-such-command", ["x"])).rejects.toThrow(
      "kiln-no-such-command x failed: spawn kiln-no-such-command ENOENT",
    );
  });
});
