import { Bus } from "@kiln/bus";
import { createDatabase } from "@kiln/db";
import { baseConfigShape, HealthServer, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  DATABASE_URL: z.string().min(1),
  DEPLOYER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18085),
});

// A real process that connects, reports health and stops cleanly; rolling consumers of an ImageStream tag to a new digest arrives with the deployer issue.
await runService("deployer", ConfigSchema, async ({ config, logger, shutdown }) => {
  const database = createDatabase(config.DATABASE_URL);
  shutdown.add("postgres", () => database.close());
  const bus = await Bus.connect({ servers: config.NATS_URL, prefix: config.KILN_SUBJECT_PREFIX, name: "kiln-deployer", logger });
  shutdown.add("nats", () => bus.drain());
  await bus.ensureStreams();
  const health = new HealthServer({ port: config.DEPLOYER_HEALTH_PORT, check: () => (bus.isClosed() ? ["nats connection closed"] : []) });
  const healthPort = await health.start();
  shutdown.add("health", () => health.stop());
  return { healthPort };
});
