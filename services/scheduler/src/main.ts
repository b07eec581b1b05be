import { Bus, busRoles } from "@kiln/bus";
import { checkDatabase, connectDatabase, SecretBox } from "@kiln/db";
import {
  BuildMetrics,
  ConsumerLag,
  createMetricsRegistry,
  HealthServer,
  runService,
  ServiceHealth,
} from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { ConfigSchema, SECRET_KEYS } from "./config.js";

await runService(
  "scheduler",
  { schema: ConfigSchema, secretKeys: SECRET_KEYS },
  async ({ config, logger, shutdown }) => {
    // Consumers handle up to 16 events each at once, and a cascade's passes create 16 builds at once.
    const database = await connectDatabase(config.DATABASE_URL, { max: 24 });
    shutdown.add("postgres", () => database.close());
    const postgres = () => checkDatabase(database.db);
    // A handler that fails while PostgreSQL is down is held until it is back (see Bus).
    const bus = await Bus.connectService("scheduler", config, logger, postgres);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("scheduler");
    const metrics = createMetricsRegistry();
    new ConsumerLag({ registry: metrics, read: () => bus.pending(busRoles.scheduler.consumes) });
    const scheduler = new BuildScheduler({
      bus,
      db: database.db,
      logger,
      registry: config.KILN_REGISTRY,
      runnerSealingKey: config.KILN_RUNNER_SEALING_PUBLIC_KEY,
      secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
      metrics: new BuildMetrics(metrics),
    });
    await scheduler.start();
    shutdown.add("scheduler", () => scheduler.stop());
    const health = new HealthServer({
      host: config.SCHEDULER_HEALTH_HOST,
      port: config.SCHEDULER_HEALTH_PORT,
      health: new ServiceHealth({
        live: { nats: () => bus.liveness() },
        ready: { nats: () => bus.readiness(), postgres },
      }),
      metrics,
    });
    const healthPort = await health.start();
    shutdown.add("health", () => health.stop());
    return { healthPort, registry: config.KILN_REGISTRY };
  },
);
