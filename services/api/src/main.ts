import { createApiServer, defaultApiTimeouts, KubernetesDelegation } from "@kiln/api";
import { Bus } from "@kiln/bus";
import { loadConsoleAssets } from "@kiln/console";
import { checkDatabase, connectDatabase, SecretBox } from "@kiln/db";
import {
  ConfigError,
  createMetricsRegistry,
  HealthServer,
  runService,
  ServiceHealth,
} from "@kiln/runtime";
import { loadKubeConfig } from "@kiln/runtime/kube";
import { ConfigSchema, SECRET_KEYS } from "./config.js";

await runService(
  "api",
  { schema: ConfigSchema, secretKeys: SECRET_KEYS },
  async ({ config, logger, shutdown }) => {
    const kubernetes = kubernetesDelegation(config.API_AUTH_DELEGATION, config.KUBECONFIG);
    if (kubernetes) logger.info({ cluster: kubernetes.source }, "Kubernetes users accepted");
    const database = await connectDatabase(config.DATABASE_URL);
    shutdown.add("postgres", () => database.close());
    const bus = await Bus.connectService("api", config, logger);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("api");
    const server = createApiServer({
      db: database.db,
      bus,
      logger,
      token: config.API_TOKEN,
      registry: config.KILN_REGISTRY,
      buildEngine: config.API_BUILD_ENGINE,
      secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
      bodyLimitBytes: config.API_BODY_LIMIT_BYTES,
      binaryLimitBytes: config.API_BINARY_LIMIT_BYTES,
      timeouts: {
        headersTimeoutMs: config.API_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: config.API_REQUEST_TIMEOUT_MS,
        idleTimeoutMs: config.API_IDLE_TIMEOUT_MS,
        keepAliveTimeoutMs: defaultApiTimeouts.keepAliveTimeoutMs,
      },
      ...(kubernetes ? { kubernetes: kubernetes.delegation } : {}),
      console: await loadConsoleAssets(),
      webhookUrl: config.KILN_WEBHOOK_URL,
    });
    // The api counts none of Kiln's metrics (the services that make each change do): its
    // metrics port serves its process metrics, and its health for Prometheus's `up`.
    const metrics = new HealthServer({
      host: config.API_METRICS_HOST,
      port: config.API_METRICS_PORT,
      health: new ServiceHealth({
        live: { nats: () => bus.liveness() },
        ready: { nats: () => bus.readiness(), postgres: () => checkDatabase(database.db) },
      }),
      metrics: createMetricsRegistry(),
    });
    const metricsPort = await metrics.start();
    shutdown.add("metrics", () => metrics.stop());
    await server.listen({ host: config.API_HOST, port: config.API_PORT });
    // Closing stops accepting requests and waits for those in flight (a followed log ends with it).
    shutdown.add("http", () => server.close());
    return { url: `http://${config.API_HOST}:${config.API_PORT}`, metricsPort };
  },
);

function kubernetesDelegation(mode: "none" | "kubernetes", kubeconfig: string | undefined) {
  if (mode === "none") return null;
  const cluster = loadKubeConfig(kubeconfig);
  if (!cluster)
    throw new ConfigError(
      "API_AUTH_DELEGATION=kubernetes needs a cluster: run in one, or set KUBECONFIG",
    );
  return {
    delegation: new KubernetesDelegation({ kubeConfig: cluster.kubeConfig }),
    source: cluster.source,
  };
}
