/**
 * The scripts the Kiln image runs besides the services (`kiln-service setup-bus`,
 * `kiln-service nats-authorization`), run as the image runs them: node with the tsx loader, from
 * the repository root, with exactly the environment given. test/support/service-config.ts knows
 * the services and `migrate`; `setup-bus` is asked the same two questions here.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { tsxLoaderUrl } from "@kiln/infra";
import { repoRoot } from "../support/kiln-services.js";
import type { ConfigSchema } from "../support/service-config.js";

export type KilnScript = "setup-bus" | "nats-authorization";

export type ScriptResult = { code: number; stdout: string; stderr: string };

/** Runs `scripts/<name>.ts` with `args`, `env` (plus PATH and TMPDIR only) and `input` on stdin. */
export function runScript(
  name: KilnScript,
  args: readonly string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--import", tsxLoaderUrl(), join(repoRoot, "scripts", `${name}.ts`), ...args],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
          ...env,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        if (code === null) reject(error ?? new Error(`${name} ended without an exit code`));
        else resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `setup-bus --config-schema`: what it reads and requires, as `configSchema` gives a service's. */
export async function setupBusConfigSchema(): Promise<ConfigSchema> {
  const { code, stdout, stderr } = await runScript("setup-bus", ["--config-schema"]);
  if (code !== 0) throw new Error(`setup-bus --config-schema: ${stderr}`);
  const schema = JSON.parse(stdout) as Partial<ConfigSchema>;
  return { required: schema.required ?? [], properties: schema.properties ?? {} };
}

/** `setup-bus --check-config` with exactly `env`, as `checkConfig` asks a service. */
export async function checkSetupBusConfig(
  env: Record<string, string>,
): Promise<{ ok: boolean; output: string }> {
  const { code, stdout, stderr } = await runScript("setup-bus", ["--check-config"], env);
  return { ok: code === 0, output: stdout + stderr };
}
