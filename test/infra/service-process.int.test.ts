import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { spawnService } from "@kiln/infra";
import { tempStateDir } from "./helpers.js";

describe("spawnService", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test("runs a TypeScript entry with tsx from any directory and stops it with SIGTERM", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const entry = join(state.dir, "main.ts");
    await writeFile(
      entry,
      [
        "const greeting: string = `up ${process.env.KILN_TEST_VALUE}`;",
        "console.log(greeting);",
        "process.on('SIGTERM', () => { console.log('stopping'); process.exit(143); });",
        "setInterval(() => undefined, 1000);",
      ].join("\n"),
    );
    const logFile = join(state.dir, "logs", "demo.log");
    // cwd outside the repository: tsx must still be found.
    const proc = await spawnService({
      name: "demo",
      entry,
      env: { KILN_TEST_VALUE: "42" },
      logFile,
      cwd: "/",
    });
    cleanups.push(async () => void (await proc.stop({ timeoutMs: 2000 })));

    await expect
      .poll(() => readFile(logFile, "utf8").catch(() => ""), { timeout: 15_000 })
      .toContain("up 42");
    const exit = await proc.stop({ timeoutMs: 5000 });
    expect(exit.code).toBe(143);
    expect(await readFile(logFile, "utf8")).toContain("stopping");
  });
});
