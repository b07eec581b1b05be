import { Bus, busRoles } from "@kiln/bus";
import { checkDatabase, connectDatabase, SecretBox } from "@kiln/db";
import {
  ConsumerLag,
  createMetricsRegistry,
  HealthServer,
  runService,
  ServiceHealth,
  WebhookMetrics,
} from "@kiln/runtime";
import {
  CommitStatusReporter,
  defaultWebhookTimeouts,
  DeliverySweeper,
  GitPoller,
  WebhookReceiver,
} from "@kiln/webhooks";
import { ConfigSchema, SECRET_KEYS } from "./config.js";

await runService(
  "webhook-receiver",
  { schema: ConfigSchema, secretKeys: SECRET_KEYS },
  async ({ config, logger, shutdown }) => {
    const database = await connectDatabase(config.DATABASE_URL);
    shutdown.add("postgres", () => database.close());
    const bus = await Bus.connectService("webhook-receiver", config, logger);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("webhook-receiver");
    const metrics = createMetricsRegistry();
    new ConsumerLag({
      registry: metrics,
      read: () => bus.pending(busRoles["webhook-receiver"].consumes),
    });
    const receiver = new WebhookReceiver({
      db: database.db,
      bus,
      logger,
      host: config.WEBHOOK_HOST,
      port: config.WEBHOOK_PORT,
      bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
      secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
      timeouts: {
        headersTimeoutMs: config.WEBHOOK_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: config.WEBHOOK_REQUEST_TIMEOUT_MS,
        idleTimeoutMs: config.WEBHOOK_IDLE_TIMEOUT_MS,
        keepAliveTimeoutMs: defaultWebhookTimeouts.keepAliveTimeoutMs,
      },
      metrics: new WebhookMetrics(metrics),
    });
    const poller = new GitPoller({
      db: database.db,
      bus,
      logger,
      intervalMs: config.WEBHOOK_GIT_POLL_INTERVAL_MS,
    });
    poller.start();
    shutdown.add("git-poller", () => poller.stop());
    const sweeper = new DeliverySweeper({
      db: database.db,
      logger,
      retentionMs: config.WEBHOOK_DELIVERY_RETENTION,
      rejectedPerBuildConfig: config.WEBHOOK_REJECTED_DELIVERIES_PER_BUILD_CONFIG,
    });
    sweeper.start();
    shutdown.add("delivery-sweeper", () => sweeper.stop());
    const statusReporter = new CommitStatusReporter({
      db: database.db,
      bus,
      logger,
      secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
      publicUrl: config.KILN_PUBLIC_URL,
      requestTimeoutMs: config.WEBHOOK_STATUS_REPORT_TIMEOUT_MS,
    });
    await statusReporter.start();
    shutdown.add("commit-status-reporter", () => statusReporter.stop());
    const metricsServer = new HealthServer({
      host: config.WEBHOOK_METRICS_HOST,
      port: config.WEBHOOK_METRICS_PORT,
      health: new ServiceHealth({
        live: { nats: () => bus.liveness() },
        ready: { nats: () => bus.readiness(), postgres: () => checkDatabase(database.db) },
      }),
      metrics,
    });
    const metricsPort = await metricsServer.start();
    shutdown.add("metrics", () => metricsServer.stop());
    const url = await receiver.start();
    // Stopped first (registered last): in-flight deliveries finish storing and publishing before NATS drains.
    shutdown.add("http", () => receiver.stop());
    return { url, metricsPort };
  },
);
