import { createApiServer } from "@kiln/api";
import { Bus } from "@kiln/bus";
import { connectDatabase, SecretBox } from "@kiln/db";
import { baseConfigShape, env, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  DATABASE_URL: z.string().min(1),
  /** Seals the secrets Kiln stores (webhook secrets, registry credentials). A secret. */
  KILN_SECRETS_KEY: env.secretsKey(),
  KILN_REGISTRY: z.string().min(1),
  API_HOST: z.string().default("127.0.0.1"),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(18080),
  /** Bearer token for every route but /healthz; `kiln up` generates it into the state dir. */
  API_TOKEN: z.string().min(16, "must be at least 16 characters"),
  API_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * 1024 * 1024),
  /** Largest binary-build upload (`start-build --from-*`); streamed to the object store, never buffered. */
  API_BINARY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024),
});

await runService("api", ConfigSchema, async ({ config, logger, shutdown }) => {
  const database = await connectDatabase(config.DATABASE_URL);
  shutdown.add("postgres", () => database.close());
  const bus = await Bus.connect({
    servers: config.NATS_URL,
    prefix: config.KILN_SUBJECT_PREFIX,
    name: "kiln-api",
    logger,
    identity: { role: "api", nkeySeed: config.NATS_NKEY_SEED },
    tlsCaFile: config.NATS_TLS_CA_FILE,
  });
  shutdown.add("nats", () => bus.drain());
  await bus.waitForStreams("api");
  const server = createApiServer({
    db: database.db,
    bus,
    logger,
    token: config.API_TOKEN,
    registry: config.KILN_REGISTRY,
    secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
    bodyLimitBytes: config.API_BODY_LIMIT_BYTES,
    binaryLimitBytes: config.API_BINARY_LIMIT_BYTES,
  });
  await server.listen({ host: config.API_HOST, port: config.API_PORT });
  // Closing stops accepting requests and waits for those in flight (a followed log ends with it).
  shutdown.add("http", () => server.close());
  return { url: `http://${config.API_HOST}:${config.API_PORT}` };
});
