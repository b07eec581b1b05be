import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { BasicCredentials } from "@kiln/registry";
import { defaultShutdownGraceMs } from "@kiln/runtime";
import { StartupFailedError } from "./errors.js";
import type { ManagedProcess } from "./managed-process.js";
import { spawnService } from "./service-process.js";

/** Kiln's six services, in start order: workers first, ingress last, so nothing arrives before it can be handled. */
export const kilnServiceNames = [
  "deployer",
  "image-watcher",
  "build-runner",
  "scheduler",
  "api",
  "webhook-receiver",
] as const;
export type KilnServiceName = (typeof kilnServiceNames)[number];

/**
 * How long a stop waits for a service before it SIGKILLs it: longer than the service's own
 * grace (`Shutdown`'s, which the build-runner's BUILD_RUNNER_SHUTDOWN_GRACE_MS, 20 s by
 * default, runs inside), so a runner finishing its builds is never cut off. The same 30 s as
 * the pods' terminationGracePeriodSeconds in k8s/.
 */
export const kilnServiceStopTimeoutMs = defaultShutdownGraceMs + 5_000;

/**
 * The order Kiln stops in, group by group (a group's processes together): intake first, so
 * nothing new arrives; then the runners, which finish their builds or hand them back while
 * the scheduler still records what they publish; then the other services; then the registry,
 * NATS and PostgreSQL, which every service used to the end.
 */
export const kilnStopOrder = [
  ["api", "webhook-receiver"],
  ["build-runner"],
  ["scheduler", "image-watcher", "deployer"],
  ["registry"],
  ["nats"],
  ["postgres"],
] as const satisfies readonly (readonly (KilnServiceName | "registry" | "nats" | "postgres")[])[];

export interface KilnServicePorts {
  api: number;
  webhook: number;
  schedulerHealth: number;
  buildRunnerHealth: number;
  imageWatcherHealth: number;
  deployerHealth: number;
  apiMetrics: number;
  webhookMetrics: number;
  imageWatcherMetrics: number;
}

export interface StartKilnServicesOptions {
  /** Folder holding `<name>/src/main.ts` for each service. */
  servicesDir: string;
  /** Which services; started in {@link kilnServiceNames} order whatever the order here. @default all six */
  services?: readonly KilnServiceName[];
  natsUrl: string;
  databaseUrl: string;
  /** Registry address (`host:port`) outputs are pushed to; reached over plain HTTP. */
  registry: string;
  /** Kiln's account in `registry`, for the services that talk to it (build-runner, image-watcher) only. */
  registryCredentials?: BasicCredentials | undefined;
  apiToken: string;
  /** The bearer token the registry's notifications carry to the image-watcher (not the API token). */
  notificationToken: string;
  /** Each service's NKey user seed on NATS (its bus role is its name). */
  natsSeeds: Readonly<Record<KilnServiceName, string>>;
  /** The runners' sealing key pair (JWKs): the scheduler gets the public key, the build-runner alone the private one. */
  sealingKeys: { publicKey: string; privateKey: string };
  /** Seals the secrets stored in PostgreSQL; only the api, the scheduler and the webhook-receiver get it. */
  secretsKey: string;
  ports: KilnServicePorts;
  /** Per-build work dirs go below `<stateDir>/work`, buildah's store in `buildahStorageDir`. */
  workDir: string;
  buildahStorageDir: string;
  logsDir: string;
  /** NATS subject prefix. @default "kiln" */
  subjectPrefix?: string;
  /** Anything else (a test's shorter shutdown grace, a log level). */
  extraEnv?: Record<string, string>;
  /** How long to wait for every `/healthz`. @default 90000 (tsx compiles each service on first start) */
  readyTimeoutMs?: number;
}

export interface KilnServices {
  apiUrl: string;
  webhookUrl: string;
  processes: Map<KilnServiceName, ManagedProcess>;
  /** Each service's `/metrics`, for Prometheus. */
  metricsUrls: Record<KilnServiceName, string>;
  /**
   * SIGTERM to the services in {@link kilnStopOrder}, each group awaited (SIGKILL after
   * `timeoutMs`, by default {@link kilnServiceStopTimeoutMs}).
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

const host = "127.0.0.1";

function healthUrl(name: KilnServiceName, ports: KilnServicePorts): string {
  const port = {
    api: ports.api,
    "webhook-receiver": ports.webhook,
    scheduler: ports.schedulerHealth,
    "build-runner": ports.buildRunnerHealth,
    "image-watcher": ports.imageWatcherHealth,
    deployer: ports.deployerHealth,
  }[name];
  return `http://${host}:${port}/healthz`;
}

/**
 * Where each service serves `/metrics`: the workers on their health port, the api, the
 * webhook-receiver and the image-watcher on a metrics port of their own, apart from the port
 * the world reaches.
 */
function kilnMetricsUrls(ports: KilnServicePorts): Record<KilnServiceName, string> {
  const url = (port: number) => `http://${host}:${port}/metrics`;
  return {
    api: url(ports.apiMetrics),
    "webhook-receiver": url(ports.webhookMetrics),
    scheduler: url(ports.schedulerHealth),
    "build-runner": url(ports.buildRunnerHealth),
    "image-watcher": url(ports.imageWatcherMetrics),
    deployer: url(ports.deployerHealth),
  };
}

/** The services that pull from or push to Kiln's registry, and so get its account. */
const registryClients: ReadonlySet<KilnServiceName> = new Set(["build-runner", "image-watcher"]);

/**
 * The environment of service `name`: one place, so `kiln up`, the tests and the benchmark
 * agree. A secret goes only to the service that needs it; `extraEnv` comes last and wins.
 */
export function kilnServiceEnv(
  o: StartKilnServicesOptions,
  name: KilnServiceName,
): Record<string, string> {
  const account: Record<string, string> =
    o.registryCredentials && registryClients.has(name)
      ? {
          KILN_REGISTRY_USERNAME: o.registryCredentials.username,
          KILN_REGISTRY_PASSWORD: o.registryCredentials.password,
        }
      : {};
  return {
    NATS_NKEY_SEED: o.natsSeeds[name],
    ...(name === "scheduler" ? { KILN_RUNNER_SEALING_PUBLIC_KEY: o.sealingKeys.publicKey } : {}),
    ...(name === "build-runner"
      ? { BUILD_RUNNER_SEALING_PRIVATE_KEY: o.sealingKeys.privateKey }
      : {}),
    ...(name === "api" || name === "scheduler" || name === "webhook-receiver"
      ? { KILN_SECRETS_KEY: o.secretsKey }
      : {}),
    // Commit statuses link to the build's page on this api (a real deployment sets its public URL).
    ...(name === "webhook-receiver" ? { KILN_PUBLIC_URL: `http://${host}:${o.ports.api}` } : {}),
    // The console shows each BuildConfig's webhook URLs.
    ...(name === "api" ? { KILN_WEBHOOK_URL: `http://${host}:${o.ports.webhook}` } : {}),
    NATS_URL: o.natsUrl,
    DATABASE_URL: o.databaseUrl,
    KILN_SUBJECT_PREFIX: o.subjectPrefix ?? "kiln",
    KILN_REGISTRY: o.registry,
    KILN_INSECURE_REGISTRIES: o.registry,
    LOG_LEVEL: "info",
    API_HOST: host,
    API_PORT: String(o.ports.api),
    ...(name === "api" ? { API_TOKEN: o.apiToken } : {}),
    WEBHOOK_HOST: host,
    WEBHOOK_PORT: String(o.ports.webhook),
    SCHEDULER_HEALTH_PORT: String(o.ports.schedulerHealth),
    BUILD_RUNNER_HEALTH_PORT: String(o.ports.buildRunnerHealth),
    IMAGE_WATCHER_HEALTH_PORT: String(o.ports.imageWatcherHealth),
    // `kiln up` gives the registry this token for its notifications to the image-watcher.
    ...(name === "image-watcher" ? { IMAGE_WATCHER_NOTIFICATION_TOKEN: o.notificationToken } : {}),
    DEPLOYER_HEALTH_PORT: String(o.ports.deployerHealth),
    API_METRICS_PORT: String(o.ports.apiMetrics),
    WEBHOOK_METRICS_PORT: String(o.ports.webhookMetrics),
    IMAGE_WATCHER_METRICS_PORT: String(o.ports.imageWatcherMetrics),
    BUILD_RUNNER_WORK_DIR: o.workDir,
    BUILD_RUNNER_STORAGE_DIR: o.buildahStorageDir,
    ...account,
    ...o.extraEnv,
  };
}

/**
 * Starts one service and waits until it answers `/healthz` (a service starts its health
 * endpoint only after its consumers run, so "healthy" means "working"). A service that dies or
 * never gets healthy fails the start with the end of its log, and is stopped again. `kiln up`
 * restarts a service with this too.
 */
export async function startKilnService(
  o: StartKilnServicesOptions,
  name: KilnServiceName,
): Promise<ManagedProcess> {
  const proc = await spawnService({
    name,
    entry: join(o.servicesDir, name, "src", "main.ts"),
    env: kilnServiceEnv(o, name),
    logFile: kilnServiceLogFile(o, name),
  });
  try {
    await waitHealthy(
      name,
      healthUrl(name, o.ports),
      proc,
      Date.now() + (o.readyTimeoutMs ?? 90_000),
    );
  } catch (error) {
    await proc.stop({ timeoutMs: kilnServiceStopTimeoutMs });
    throw error;
  }
  return proc;
}

/** Where service `name` logs. */
export function kilnServiceLogFile(
  o: Pick<StartKilnServicesOptions, "logsDir">,
  name: KilnServiceName,
): string {
  return join(o.logsDir, `${name}.log`);
}

/**
 * Starts Kiln's services as processes, all at once (spawned in {@link kilnServiceNames}
 * order), and waits until every one is healthy (see {@link startKilnService}). When one fails,
 * the others are stopped again and the first failure in start order is thrown.
 */
export async function startKilnServices(o: StartKilnServicesOptions): Promise<KilnServices> {
  const wanted = new Set(o.services ?? kilnServiceNames);
  const names = kilnServiceNames.filter((n) => wanted.has(n));
  await prepareKilnServiceDirs(o);
  const processes = new Map<KilnServiceName, ManagedProcess>();
  const stop = async (options: { timeoutMs?: number } = {}) => {
    for (const group of kilnStopOrder) {
      await Promise.all(
        group.map((name) =>
          processes
            .get(name as KilnServiceName)
            ?.stop({ timeoutMs: options.timeoutMs ?? kilnServiceStopTimeoutMs }),
        ),
      );
    }
  };
  const results = await Promise.allSettled(
    names.map(async (name) => processes.set(name, await startKilnService(o, name))),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  return {
    apiUrl: `http://${host}:${o.ports.api}`,
    webhookUrl: `http://${host}:${o.ports.webhook}`,
    processes,
    metricsUrls: kilnMetricsUrls(o.ports),
    stop,
  };
}

/** The directories the services write to: work dirs, buildah's store, logs. */
export async function prepareKilnServiceDirs(
  o: Pick<StartKilnServicesOptions, "workDir" | "buildahStorageDir" | "logsDir">,
): Promise<void> {
  await mkdir(o.workDir, { recursive: true });
  await mkdir(o.buildahStorageDir, { recursive: true });
  await mkdir(o.logsDir, { recursive: true });
}

async function waitHealthy(
  name: KilnServiceName,
  url: string,
  proc: ManagedProcess,
  deadline: number,
): Promise<void> {
  for (;;) {
    if (!proc.running) {
      throw new StartupFailedError(name, `${name} exited while starting`, {
        logTail: await proc.logTail(),
        logFile: proc.logFile,
      });
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new StartupFailedError(name, `${name} did not answer ${url} in time`, {
        logTail: await proc.logTail(),
        logFile: proc.logFile,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
