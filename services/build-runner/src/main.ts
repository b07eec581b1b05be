import { readFile } from "node:fs/promises";
import { Bus, busRoles } from "@kiln/bus";
import { LocalEngine, NoopEngine, prepareBuildHost, type BuildHost } from "@kiln/engine";
import type { BuildEngine } from "@kiln/domain";
import { KubernetesEngine } from "@kiln/kube-engine";
import { KubeConfig } from "@kubernetes/client-node";
import { BuildRunner, runnerStopAllowanceMs } from "@kiln/runner";
import {
  basicAuthOf,
  RegistryClient,
  RegistryError,
  RegistryFailure,
  type BasicCredentials,
} from "@kiln/registry";
import {
  ConsumerLag,
  createMetricsRegistry,
  HealthServer,
  registryCredentialsOf,
  StepMetrics,
  runService,
  ServiceHealth,
  type Logger,
} from "@kiln/runtime";
import { ConfigSchema, SECRET_KEYS, type Config } from "./config.js";

/** The `kubernetes` engine from the configuration; builds no client connection yet. */
function kubernetesEngine(
  config: Config,
  logger: Logger,
  natsTlsCa: string | undefined,
): KubernetesEngine {
  const kubeConfig = new KubeConfig();
  // KUBECONFIG, else ~/.kube/config, else the service account of the pod the runner runs in.
  kubeConfig.loadFromDefault();
  return new KubernetesEngine({
    kubeConfig,
    namespace: config.BUILD_RUNNER_KUBE_NAMESPACE ?? "",
    image: config.BUILD_RUNNER_KUBE_IMAGE ?? "",
    imagePullPolicy: config.BUILD_RUNNER_KUBE_IMAGE_PULL_POLICY,
    serviceAccountName: config.BUILD_RUNNER_KUBE_SERVICE_ACCOUNT,
    stepCommand: config.BUILD_RUNNER_KUBE_STEP_COMMAND,
    insecureRegistries: config.KILN_INSECURE_REGISTRIES,
    allowedUids: config.BUILD_RUNNER_ALLOWED_UIDS,
    maxInputBytes: config.BUILD_RUNNER_MAX_INPUT_BYTES,
    ttlSecondsAfterFinished: config.BUILD_RUNNER_KUBE_TTL_SECONDS,
    buildAppArmorProfile: config.BUILD_RUNNER_KUBE_APPARMOR_PROFILE,
    isolation: config.BUILD_RUNNER_KUBE_ISOLATION,
    binaryInput: {
      natsUrl: config.BUILD_RUNNER_KUBE_NATS_URL ?? config.NATS_URL,
      subjectPrefix: config.KILN_SUBJECT_PREFIX,
      ...(config.BUILD_RUNNER_KUBE_NATS_NKEY_SEED
        ? { nkeySeed: config.BUILD_RUNNER_KUBE_NATS_NKEY_SEED }
        : {}),
      // The pods reach the same NATS, so they need the same CA (their namespace cannot mount ours).
      ...(natsTlsCa ? { tlsCa: natsTlsCa } : {}),
    },
    pollIntervalMs: config.BUILD_RUNNER_KUBE_POLL_INTERVAL_MS,
    logger: logger.child({ component: "kubernetes-engine" }),
  });
}

/**
 * The local engine's host, set up before anything else: a runner started as root becomes the
 * build user here, before it connects to anything or reads any build.
 */
async function localBuildHost(config: Config, logger: Logger): Promise<BuildHost> {
  const host = await prepareBuildHost({
    isolation: config.BUILD_RUNNER_ISOLATION,
    buildUser: config.BUILD_RUNNER_BUILD_USER,
    ociRuntime: config.BUILD_RUNNER_OCI_RUNTIME,
    network: config.BUILD_RUNNER_NETWORK,
    storageDriver: config.BUILD_RUNNER_STORAGE_DRIVER,
    // Present: the schema requires both for the local engine.
    workDir: config.BUILD_RUNNER_WORK_DIR ?? "",
    storageDir: config.BUILD_RUNNER_STORAGE_DIR ?? "",
  });
  if (host.isolation === "chroot-unsafe")
    logger.warn(
      { isolation: host.isolation, user: host.user.name },
      "BUILD_RUNNER_ISOLATION=chroot-unsafe: build steps are not isolated from this host",
    );
  if (host.storageFallback)
    logger.warn(
      { storageDriver: host.storageDriver, reason: host.storageFallback },
      "overlay storage cannot mount here; builds use vfs",
    );
  logger.info(buildHostDetails(host), "build host ready");
  return host;
}

/** What /healthz and the start line say about the build host. */
function buildHostDetails(host: BuildHost): Record<string, unknown> {
  return {
    isolation: host.isolation,
    buildUser: host.user.name,
    storageDriver: host.storageDriver,
    ...(host.storageFallback ? { storageFallback: host.storageFallback } : {}),
    ociRuntime: host.ociRuntime,
    network: host.network,
  };
}

/**
 * Says at start, in one line naming the registry, when Kiln's registry refuses this runner's
 * account, rather than only in the log of each build that then fails to push. Never fatal: a
 * restart would not fix a wrong password (no crash loop), and the builds fail with PushFailed.
 */
async function checkRegistryAccount(
  config: Config,
  own: { registry: string; credentials: BasicCredentials },
  logger: Logger,
): Promise<void> {
  try {
    await new RegistryClient().checkAccess({
      host: own.registry,
      insecure: config.KILN_INSECURE_REGISTRIES.includes(own.registry),
      basicAuth: basicAuthOf(own.credentials),
    });
  } catch (error) {
    const fields = { registry: own.registry, user: own.credentials.username, err: error };
    if (error instanceof RegistryError && error.reason === RegistryFailure.Unauthorized)
      logger.error(fields, "kiln registry refused this runner's account: builds cannot push there");
    else logger.warn(fields, "could not check this runner's account in kiln registry");
  }
}

await runService(
  "build-runner",
  {
    schema: ConfigSchema,
    secretKeys: SECRET_KEYS,
    // The builds' grace, then their kill, clean-up and hand-back, then the rest of the stop.
    shutdownGraceMs: (config) => config.BUILD_RUNNER_SHUTDOWN_GRACE_MS + runnerStopAllowanceMs,
  },
  async ({ config, logger, shutdown }) => {
    const host =
      config.BUILD_RUNNER_ENGINE === "local" ? await localBuildHost(config, logger) : null;
    const bus = await Bus.connectService("build-runner", config, logger);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("build-runner");
    if (config.BUILD_RUNNER_ENGINE === "noop")
      logger.warn("engine noop: builds build nothing and push nothing (benchmark mode)");
    const engine: BuildEngine =
      config.BUILD_RUNNER_ENGINE === "noop"
        ? new NoopEngine({ buildMs: config.BUILD_RUNNER_NOOP_BUILD_MS })
        : config.BUILD_RUNNER_ENGINE === "kubernetes"
          ? kubernetesEngine(
              config,
              logger,
              config.NATS_TLS_CA_FILE ? await readFile(config.NATS_TLS_CA_FILE, "utf8") : undefined,
            )
          : new LocalEngine({
              host: host!,
              workDir: config.BUILD_RUNNER_WORK_DIR ?? "",
              storageDir: config.BUILD_RUNNER_STORAGE_DIR ?? "",
              insecureRegistries: config.KILN_INSECURE_REGISTRIES,
              maxInputBytes: config.BUILD_RUNNER_MAX_INPUT_BYTES,
              allowedUids: config.BUILD_RUNNER_ALLOWED_UIDS,
              imageCacheBytes: config.BUILD_RUNNER_IMAGE_CACHE_BYTES,
              layerAppend: config.BUILD_RUNNER_LAYER_APPEND,
              logger: logger.child({ component: "local-engine" }),
            });
    const credentials = registryCredentialsOf(config);
    const kilnRegistry =
      credentials && config.KILN_REGISTRY
        ? { registry: config.KILN_REGISTRY, credentials }
        : undefined;
    if (kilnRegistry) void checkRegistryAccount(config, kilnRegistry, logger);
    const metrics = createMetricsRegistry();
    new ConsumerLag({
      registry: metrics,
      read: () => bus.pending(busRoles["build-runner"].consumes),
    });
    const runner = new BuildRunner({
      bus,
      engine,
      logger,
      maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS,
      sealingKey: config.BUILD_RUNNER_SEALING_PRIVATE_KEY,
      kilnRegistry,
      metrics: new StepMetrics(metrics),
    });
    // Starting removes what crashed runners left in the work dir and the store, before any build.
    await runner.start();
    // First of the stop steps to matter: no new build is taken, running ones finish within the
    // grace or are killed, cleaned up and handed back; only then does NATS drain.
    shutdown.add("runner", () => runner.stop(config.BUILD_RUNNER_SHUTDOWN_GRACE_MS));
    const health = new HealthServer({
      host: config.BUILD_RUNNER_HEALTH_HOST,
      port: config.BUILD_RUNNER_HEALTH_PORT,
      health: new ServiceHealth({
        live: { nats: () => bus.liveness() },
        // The runner has no database: NATS, and an engine that could run a build now.
        ready: {
          nats: () => bus.readiness(),
          engine: async () => (await engine.check?.()) ?? null,
        },
      }),
      details: () => ({
        engine: config.BUILD_RUNNER_ENGINE,
        ...(host ? { buildHost: buildHostDetails(host) } : {}),
      }),
      metrics,
    });
    const healthPort = await health.start();
    shutdown.add("health", () => health.stop());
    return {
      engine: config.BUILD_RUNNER_ENGINE,
      healthPort,
      maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS,
    };
  },
);
