import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setUpBus } from "@kiln/bus";
import { registryNotificationToken } from "@kiln/testing/plain";
import { isTerminalPhase, type BuildPhase } from "@kiln/domain";
import { mkdir } from "node:fs/promises";
import {
  freePort,
  startKilnService,
  startKilnServices,
  type KilnServiceName,
  type ManagedProcess,
  type StartKilnServicesOptions,
} from "@kiln/infra";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** What `startKiln` needs of the real infrastructure (the `infra` fixture, or the benchmark's own). */
export interface KilnInfra {
  natsUrl: string;
  /** Every identity's NKey seed on that NATS (the fixture's `busCredentials`). */
  busCredentials: Readonly<Record<KilnServiceName | "admin", string>>;
  sealingKeys: { publicKey: string; privateKey: string };
  secretsKey: string;
  /** With the account it wants, given to the build-runner and the image-watcher. */
  registry: { address: string; credentials?: { username: string; password: string } | null };
  /** Logs and build work dirs go below it. */
  workDir: string;
}

export interface RunningKiln {
  apiUrl: string;
  /** The webhook-receiver's base URL (answers only when "webhook-receiver" is among the services). */
  webhookUrl: string;
  token: string;
  registry: string;
  /** The image-watcher's HTTP server (`/healthz`, `/readyz`, `/registry/notifications[/<source>]`). */
  imageWatcherUrl: string;
  /** Where each service answers `/healthz` and `/readyz` (its API's server, or its health server). */
  healthUrls: Record<KilnServiceName, string>;
  /** Where each service serves `/metrics` (kilnMetricsUrls). */
  metricsUrls: Record<KilnServiceName, string>;
  logsDir: string;
  /** Environment a `kiln` CLI needs to talk to this Kiln. */
  cliEnv: Record<string, string>;
  processes: Map<KilnServiceName, ManagedProcess>;
  /** The build-runners' work dir (their per-build dirs go below it) and buildah store. */
  runnerWorkDir: string;
  runnerStorageDir: string;
  /**
   * Starts one more build-runner on the same work dir, store and bus (logging to
   * `<logsDir>/<logName>/build-runner.log`), once it answers /healthz; `stop()` stops it too.
   */
  startRunner(options: {
    logName: string;
    extraEnv?: Record<string, string>;
  }): Promise<ManagedProcess>;
  /** Stops one service (SIGTERM, as `kiln up` does) and starts it again, on the same port. */
  restart(name: KilnServiceName): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Kiln's services as real processes, the way `kiln up` does (the same
 * `startKilnServices`), against a test's private database and subject prefix, on free ports.
 * Plain code, no vitest import, so the benchmark uses it too.
 */
export async function startKiln(options: {
  infra: KilnInfra;
  databaseUrl: string;
  subjectPrefix: string;
  /**
   * The build-runner's own store (the build user's, like `kiln up`'s). @default one per worker
   * under `infra.workDir`, shared by the tests of the worker so base images are pulled once.
   */
  buildahStorageDir?: string;
  services?: KilnServiceName[];
  extraEnv?: Record<string, string>;
}): Promise<RunningKiln> {
  const { infra } = options;
  // What `kiln up` does before its services start: no service may create a stream.
  await setUpBus({
    servers: infra.natsUrl,
    prefix: options.subjectPrefix,
    adminSeed: infra.busCredentials.admin,
  });
  const token = randomBytes(24).toString("hex");
  const logsDir = join(infra.workDir, "logs", options.subjectPrefix);
  const ports = {
    api: await freePort(),
    webhook: await freePort(),
    schedulerHealth: await freePort(),
    buildRunnerHealth: await freePort(),
    imageWatcherHealth: await freePort(),
    deployerHealth: await freePort(),
    apiMetrics: await freePort(),
    webhookMetrics: await freePort(),
    imageWatcherMetrics: await freePort(),
  };
  const serviceOptions: StartKilnServicesOptions = {
    servicesDir: join(repoRoot, "services"),
    services: options.services ?? ["api", "scheduler", "build-runner"],
    natsUrl: infra.natsUrl,
    databaseUrl: options.databaseUrl,
    registry: infra.registry.address,
    registryCredentials: infra.registry.credentials ?? undefined,
    apiToken: token,
    notificationToken: registryNotificationToken,
    natsSeeds: infra.busCredentials,
    sealingKeys: infra.sealingKeys,
    secretsKey: infra.secretsKey,
    subjectPrefix: options.subjectPrefix,
    ports,
    workDir: join(infra.workDir, "work", options.subjectPrefix),
    buildahStorageDir: options.buildahStorageDir ?? runnerStorageDir(infra),
    logsDir,
    extraEnv: { BUILD_RUNNER_SHUTDOWN_GRACE_MS: "2000", ...options.extraEnv },
  };
  const kiln = await startKilnServices(serviceOptions);
  const extraRunners: ManagedProcess[] = [];
  return {
    apiUrl: kiln.apiUrl,
    webhookUrl: kiln.webhookUrl,
    token,
    registry: infra.registry.address,
    imageWatcherUrl: `http://127.0.0.1:${ports.imageWatcherHealth}`,
    healthUrls: {
      api: kiln.apiUrl,
      "webhook-receiver": kiln.webhookUrl,
      scheduler: `http://127.0.0.1:${ports.schedulerHealth}`,
      "build-runner": `http://127.0.0.1:${ports.buildRunnerHealth}`,
      "image-watcher": `http://127.0.0.1:${ports.imageWatcherHealth}`,
      deployer: `http://127.0.0.1:${ports.deployerHealth}`,
    },
    metricsUrls: kiln.metricsUrls,
    logsDir,
    cliEnv: { KILN_API_URL: kiln.apiUrl, KILN_TOKEN: token, KILN_NAMESPACE: "default" },
    processes: kiln.processes,
    runnerWorkDir: serviceOptions.workDir,
    runnerStorageDir: serviceOptions.buildahStorageDir,
    startRunner: async ({ logName, extraEnv }) => {
      const runnerLogs = join(logsDir, logName);
      await mkdir(runnerLogs, { recursive: true });
      const runner = await startKilnService(
        {
          ...serviceOptions,
          logsDir: runnerLogs,
          ports: { ...serviceOptions.ports, buildRunnerHealth: await freePort() },
          extraEnv: { ...serviceOptions.extraEnv, ...extraEnv },
        },
        "build-runner",
      );
      extraRunners.push(runner);
      return runner;
    },
    restart: async (name) => {
      await kiln.processes.get(name)?.stop({ timeoutMs: 30_000 });
      kiln.processes.set(name, await startKilnService(serviceOptions, name));
    },
    stop: async () => {
      // The extra runners with the first one, as kiln up stops its runners (builds handed back).
      await Promise.all(extraRunners.map((runner) => runner.stop({ timeoutMs: 30_000 })));
      await kiln.stop();
    },
  };
}

/** The build-runner's store of a worker (see `startKiln`). */
export function runnerStorageDir(infra: KilnInfra): string {
  return join(infra.workDir, "runner-storage");
}

/** A tiny client for the tests (the CLI has the real one). */
export function api(kiln: Pick<RunningKiln, "apiUrl" | "token">) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
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
    if (Date.now() > deadline)
      throw new Error(`build ${name} still ${res.json?.status?.phase} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A build phase that is final (the domain's own rule), for `waitForBuild`. */
export const finished = (phase: string): boolean => isTerminalPhase(phase as BuildPhase);
