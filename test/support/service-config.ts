import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { kilnServiceNames, tsxLoaderUrl, type KilnServiceName } from "@kiln/infra";
import { repoRoot } from "./kiln-services.js";

/**
 * What the deployment tests (test/k8s, test/compose) ask of the services themselves: the
 * environment each one reads and whether a given environment would start it. Both come from the
 * service's own zod schema, through the `--config-schema` and `--check-config` flags of
 * `runService` (@kiln/runtime), so nothing here restates a schema.
 */

const exec = promisify(execFile);

/** What the Kiln image's entrypoint runs: the six services and the one-shot migration. */
export type KilnEntry = KilnServiceName | "migrate";
function entryFile(entry: KilnEntry): string {
  return entry === "migrate"
    ? join(repoRoot, "scripts", "migrate.ts")
    : join(repoRoot, "services", entry, "src", "main.ts");
}

/** A service's environment as JSON Schema (the input side of its zod schema). */
export interface ConfigSchema {
  required: string[];
  properties: Record<string, { default?: unknown; enum?: unknown[] }>;
}

/** The server each service listens with, which answers `/healthz`: its address and port variables (the first one set wins). Mirrors `healthUrl` in @kiln/infra. */
export const listenVariables: Record<KilnServiceName, { host: string; port: readonly string[] }> = {
  api: { host: "API_HOST", port: ["API_PORT"] },
  "webhook-receiver": { host: "WEBHOOK_HOST", port: ["WEBHOOK_PORT"] },
  scheduler: { host: "SCHEDULER_HEALTH_HOST", port: ["SCHEDULER_HEALTH_PORT"] },
  "build-runner": { host: "BUILD_RUNNER_HEALTH_HOST", port: ["BUILD_RUNNER_HEALTH_PORT"] },
  "image-watcher": {
    host: "IMAGE_WATCHER_HOST",
    port: ["IMAGE_WATCHER_PORT", "IMAGE_WATCHER_HEALTH_PORT"],
  },
  deployer: { host: "DEPLOYER_HEALTH_HOST", port: ["DEPLOYER_HEALTH_PORT"] },
};

/**
 * Where each service serves `/metrics`: the workers on the server above, the services the world
 * reaches on a metrics server of their own (its address and port variables). Mirrors
 * `kilnMetricsUrls` in @kiln/infra.
 */
export const metricsVariables: Record<KilnServiceName, { host: string; port: readonly string[] }> =
  {
    ...listenVariables,
    api: { host: "API_METRICS_HOST", port: ["API_METRICS_PORT"] },
    "webhook-receiver": { host: "WEBHOOK_METRICS_HOST", port: ["WEBHOOK_METRICS_PORT"] },
    "image-watcher": { host: "IMAGE_WATCHER_METRICS_HOST", port: ["IMAGE_WATCHER_METRICS_PORT"] },
  };

/** Only what node needs: a value the test machine happens to have (DATABASE_URL, say) must not hide a missing one. */
function bareEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    ...env,
  };
}

/** `main.ts --config-schema`: the variables the service reads, which of them it requires, their defaults. */
export async function configSchema(entry: KilnEntry): Promise<ConfigSchema> {
  const { stdout } = await exec(
    process.execPath,
    ["--import", tsxLoaderUrl(), entryFile(entry), "--config-schema"],
    { env: bareEnv({}), cwd: repoRoot },
  );
  const schema = JSON.parse(stdout) as Partial<ConfigSchema>;
  return { required: schema.required ?? [], properties: schema.properties ?? {} };
}

/** `main.ts --check-config` with exactly `env`: whether the service would start with it, and if not, every wrong variable. */
export async function checkConfig(
  entry: KilnEntry,
  env: Record<string, string>,
): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      ["--import", tsxLoaderUrl(), entryFile(entry), "--check-config"],
      { env: bareEnv(env), cwd: repoRoot },
    );
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? e.message}` };
  }
}

/** The port a service's server listens on with `env`: the first of its port variables that is set, else the schema's default. */
export function listenPort(
  service: KilnServiceName,
  env: Record<string, string>,
  schema: ConfigSchema,
  variables = listenVariables,
): number {
  for (const name of variables[service].port) {
    if (env[name] !== undefined) return Number(env[name]);
  }
  for (const name of variables[service].port) {
    const fallback = schema.properties[name]?.default;
    if (fallback !== undefined) return Number(fallback);
  }
  throw new Error(`${service}: no port variable set and none has a default`);
}

/** The address a service's server binds with `env` (its schema's default when unset). */
export function listenHost(
  service: KilnServiceName,
  env: Record<string, string>,
  schema: ConfigSchema,
  variables = listenVariables,
): string {
  const name = variables[service].host;
  return env[name] ?? String(schema.properties[name]?.default ?? "");
}

/** Runs `fn` over `items` with at most `limit` at a time (each check starts a node process; the build machines have 2 cores). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
