import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./kiln-services.js";

const exec = promisify(execFile);
const kilnBin = join(repoRoot, "packages", "cli", "bin", "kiln.mjs");

/** Runs the real `kiln` CLI as a user would; resolves with its exit code instead of throwing. */
export async function kiln(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [kilnBin, ...args], {
      env: { ...process.env, ...env },
      cwd: "/",
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}
