import { Bus } from "@kiln/bus";
import { connectDatabase, SecretBox } from "@kiln/db";
import { baseConfigShape, env, HealthServer, runService } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  DATABASE_URL: z.string().min(1),
  /** Seals the secrets Kiln stores (webhook secrets, registry credentials). A secret. */
  KILN_SECRETS_KEY: env.secretsKey(),
  /** Registry ImageStreamTag outputs are pushed to (`host:port`). */
  KILN_REGISTRY: z.string().min(1),
  /** The runners' public sealing key (an X25519 JWK): registry credentials cross the bus sealed to it. */
  KILN_RUNNER_SEALING_PUBLIC_KEY: env.sealingKey("public"),
  /** Address of /healthz; loopback unless told otherwise (a container sets 0.0.0.0 so the kubelet can probe it). */
  SCHEDULER_HEALTH_HOST: z.string().default("127.0.0.1"),
  SCHEDULER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18082),
});

await runService("scheduler", ConfigSchema, async ({ config, logger, shutdown }) => {
  // Consumers handle up to 16 events each at once, and a cascade's passes create 16 builds at once.
  const database = await connectDatabase(config.DATABASE_URL, { max: 24 });
  shutdown.add("postgres", () => database.close());
  const bus = await Bus.connect({
    servers: config.NATS_URL,
    prefix: config.KILN_SUBJECT_PREFIX,
    name: "kiln-scheduler",
    logger,
    identity: { role: "scheduler", nkeySeed: config.NATS_NKEY_SEED },
    tlsCaFile: config.NATS_TLS_CA_FILE,
  });
  shutdown.add("nats", () => bus.drain());
  await bus.waitForStreams("scheduler");
  const scheduler = new BuildScheduler({
    bus,
    db: database.db,
    logger,
    registry: config.KILN_REGISTRY,
    runnerSealingKey: config.KILN_RUNNER_SEALING_PUBLIC_KEY,
    secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
  });
  await scheduler.start();
  shutdown.add("scheduler", () => scheduler.stop());
  const health = new HealthServer({
    host: config.SCHEDULER_HEALTH_HOST,
    port: config.SCHEDULER_HEALTH_PORT,
    check: () => (bus.isClosed() ? ["nats connection closed"] : []),
  });
  const healthPort = await health.start();
  shutdown.add("health", () => health.stop());
  return { healthPort, registry: config.KILN_REGISTRY };
});
