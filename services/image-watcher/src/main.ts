import { Bus, busRoles } from "@kiln/bus";
import { checkDatabase, connectDatabase } from "@kiln/db";
import {
  BuildOutputRecorder,
  ManifestResolver,
  NotificationReceiver,
  NotificationServer,
  notificationSources,
  ScheduledImporter,
  type NotificationSource,
} from "@kiln/image-watcher";
import { TagRecorder } from "@kiln/image-tags";
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
  ImageMetrics,
  registryCredentialsOf,
  runService,
  ServiceHealth,
  type Logger,
} from "@kiln/runtime";
import { ConfigSchema, SECRET_KEYS } from "./config.js";

/**
 * Says at start, in one line naming the registry, when Kiln's registry refuses the
 * image-watcher's account, rather than only on each import and notification that then fails.
 * Never fatal: a restart would not fix a wrong password (no crash loop). Kiln's registry is
 * always reached over plain HTTP here (it is in the insecure list, see `targets`).
 */
async function checkRegistryAccount(
  own: { registry: string; credentials: BasicCredentials },
  logger: Logger,
): Promise<void> {
  try {
    await new RegistryClient().checkAccess({
      host: own.registry,
      insecure: true,
      basicAuth: basicAuthOf(own.credentials),
    });
  } catch (error) {
    const fields = { registry: own.registry, user: own.credentials.username, err: error };
    if (error instanceof RegistryError && error.reason === RegistryFailure.Unauthorized)
      logger.error(
        fields,
        "kiln registry refused the image-watcher's account: it cannot follow pushes there",
      );
    else logger.warn(fields, "could not check the image-watcher's account in kiln registry");
  }
}

// Order: the bus and database first, then the build-status consumer, the importer, and last the
// HTTP server, so nothing is accepted before it can be handled; shutdown runs it in reverse.
await runService(
  "image-watcher",
  { schema: ConfigSchema, secretKeys: SECRET_KEYS },
  async ({ config, logger, shutdown }) => {
    const database = await connectDatabase(config.DATABASE_URL);
    shutdown.add("postgres", () => database.close());
    const postgres = () => checkDatabase(database.db);
    // A handler that fails while PostgreSQL is down is held until it is back (see Bus).
    const bus = await Bus.connectService("image-watcher", config, logger, postgres);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("image-watcher");

    const targets = {
      kilnRegistry: config.KILN_REGISTRY,
      insecureRegistries: [config.KILN_REGISTRY, ...config.KILN_INSECURE_REGISTRIES],
    };
    const metrics = createMetricsRegistry();
    new ConsumerLag({
      registry: metrics,
      read: () => bus.pending(busRoles["image-watcher"].consumes),
    });
    const recorder = new TagRecorder({
      db: database.db,
      bus,
      logger,
      metrics: new ImageMetrics(metrics),
    });
    const credentials = registryCredentialsOf(config);
    const kilnRegistry = credentials && { registry: config.KILN_REGISTRY, credentials };
    if (kilnRegistry) void checkRegistryAccount(kilnRegistry, logger);
    const resolver = new ManifestResolver({ kilnRegistry });

    const buildOutputs = new BuildOutputRecorder({
      recorder,
      kilnRegistry: config.KILN_REGISTRY,
      logger,
    });
    const consumption = await bus.consume("image-watcher-build-status", (status) =>
      buildOutputs.handle(status),
    );
    shutdown.add("build-status consumer", () => consumption.stop());

    const importer = new ScheduledImporter({
      ...targets,
      db: database.db,
      recorder,
      resolver,
      logger,
      intervalMs: config.IMAGE_WATCHER_IMPORT_INTERVAL_MS,
    });
    importer.start();
    shutdown.add("importer", () => importer.stop());

    const tokens: Partial<Record<NotificationSource, string>> = {};
    for (const source of notificationSources)
      if (config.IMAGE_WATCHER_NOTIFICATION_TOKEN)
        tokens[source] = config.IMAGE_WATCHER_NOTIFICATION_TOKEN;
    for (const entry of config.IMAGE_WATCHER_NOTIFICATION_TOKENS) {
      const [source, token] = entry.split("=", 2) as [NotificationSource, string];
      tokens[source] = token;
    }
    const receiver = new NotificationReceiver({
      ...targets,
      db: database.db,
      recorder,
      resolver,
      logger,
      tokens,
    });
    const health = new ServiceHealth({
      live: { nats: () => bus.liveness() },
      ready: { nats: () => bus.readiness(), postgres },
    });
    const metricsServer = new HealthServer({
      host: config.IMAGE_WATCHER_METRICS_HOST,
      port: config.IMAGE_WATCHER_METRICS_PORT,
      health,
      metrics,
    });
    const metricsPort = await metricsServer.start();
    shutdown.add("metrics", () => metricsServer.stop());
    const server = new NotificationServer({
      host: config.IMAGE_WATCHER_HOST,
      port: config.IMAGE_WATCHER_PORT ?? config.IMAGE_WATCHER_HEALTH_PORT,
      health,
      receiver,
      logger,
      bodyLimitBytes: config.IMAGE_WATCHER_NOTIFICATION_LIMIT_BYTES,
    });
    const httpPort = await server.start();
    shutdown.add("http", () => server.stop());
    return {
      httpPort,
      metricsPort,
      importIntervalMs: config.IMAGE_WATCHER_IMPORT_INTERVAL_MS,
      notificationAuth: Object.keys(tokens),
    };
  },
);
