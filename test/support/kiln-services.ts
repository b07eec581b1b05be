import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnService, type ManagedProcess } from "@kiln/infra";
import { randomToken, type WorkerInfra } from "@kiln/testing";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export type KilnServiceName = "api" | "scheduler" | "build-runner" | "webhook-receiver" | "image-watcher" | "deployer";

export interface RunningKiln {
  apiUrl: string;
  token: string;
  registry: string;
  logsDir: string;
  /** Environment a `kiln` CLI needs to talk to this Kiln. */
  cliEnv: Record<string, string>;
  processes: Map<KilnServiceName, ManagedProcess>;
  stop(): Promise<void>;
}

/**
 * Starts Kiln's services as real processes (`node --import tsx services/<name>/src/main.ts`),
 * the way `kiln up` does, against a test's private database and subject prefix.
 */
export async function startKiln(options: {
  infra: WorkerInfra;
  databaseUrl: string;
  subjectPrefix: string;
  buildahStorageDir: string;
  services?: KilnServiceName[];
  extraEnv?: Record<string, string>;
}): Promise<RunningKiln> {
  const { infra } = options;
  const services = options.services ?? ["api", "scheduler", "build-runner"];
  const token = randomToken(32);
  const apiPort = await freePort();
  const logsDir = join(infra.workDir, "logs", options.subjectPrefix);
  const workDir = join(infra.workDir, "work", options.subjectPrefix);
  await mkdir(logsDir, { recursive: true });
  const env: Record<string, string> = {
    NATS_URL: infra.natsUrl,
    DATABASE_URL: options.databaseUrl,
    KILN_SUBJECT_PREFIX: options.subjectPrefix,
    KILN_REGISTRY: infra.registry.address,
    KILN_INSECURE_REGISTRIES: infra.registry.address,
    LOG_LEVEL: "info",
    API_PORT: String(apiPort),
    API_TOKEN: token,
    WEBHOOK_PORT: "0",
    SCHEDULER_HEALTH_PORT: "0",
    BUILD_RUNNER_HEALTH_PORT: "0",
    IMAGE_WATCHER_HEALTH_PORT: "0",
    DEPLOYER_HEALTH_PORT: "0",
    BUILD_RUNNER_WORK_DIR: workDir,
    BUILD_RUNNER_STORAGE_DIR: options.buildahStorageDir,
    BUILD_RUNNER_SHUTDOWN_GRACE_MS: "2000",
    ...options.extraEnv,
  };
  const processes = new Map<KilnServiceName, ManagedProcess>();
  const stop = async () => {
    await Promise.all([...processes.values()].map((p) => p.stop({ timeoutMs: 10_000 })));
  };
  try {
    for (const name of services) {
      processes.set(
        name,
        await spawnService({ name, entry: join(repoRoot, "services", name, "src", "main.ts"), env, logFile: join(logsDir, `${name}.log`), cwd: repoRoot }),
      );
    }
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    if (services.includes("api")) await waitForHealthy(`${apiUrl}/healthz`, 30_000);
    return {
      apiUrl,
      token,
      registry: infra.registry.address,
      logsDir,
      cliEnv: { KILN_API_URL: apiUrl, KILN_TOKEN: token, KILN_NAMESPACE: "default" },
      processes,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function waitForHealthy(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = new Error(`HTTP ${res.status}`);
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms: ${String(last)}`);
}

/** A tiny typed client for the tests (the CLI has the real one). */
export function api(kiln: Pick<RunningKiln, "apiUrl" | "token">) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${kiln.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${kiln.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, text };
  };
}

export async function waitForBuild(
  call: ReturnType<typeof api>,
  name: string,
  until: (phase: string) => boolean,
  timeoutMs = 120_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await call("GET", `/apis/v1/namespaces/default/builds/${name}`);
    if (res.status === 200 && until(res.json.status.phase)) return res.json;
    if (Date.now() > deadline) throw new Error(`build ${name} still ${res.json?.status?.phase} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
