import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

/**
 * The uid and gid builds run as: the build user (`kiln-build`, which scripts/bootstrap creates)
 * when the tests run as root, else the tests' own user, as the build-runner chooses.
 */
export async function buildUser(): Promise<{ uid: number; gid: number }> {
  if (process.getuid?.() !== 0)
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const [, , uid, gid] = (await exec("getent", ["passwd", "kiln-build"])).stdout.trim().split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
