import { Bus } from "@kiln/bus";
import { connectDatabase, SecretBox } from "@kiln/db";
import { baseConfigShape, env, runService } from "@kiln/runtime";
import { DeliverySweeper, GitPoller, WebhookReceiver } from "@kiln/webhooks";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  DATABASE_URL: z.string().min(1),
  /** Seals the secrets Kiln stores (webhook secrets, registry credentials). A secret. */
  KILN_SECRETS_KEY: env.secretsKey(),
  WEBHOOK_HOST: z.string().default("127.0.0.1"),
  WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(18081),
  /** Larger webhook bodies get 413 unread (GitHub caps its payloads at 25 MB; pushes are far smaller). */
  WEBHOOK_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * 1024 * 1024),
  /** How often BuildConfigs with `source.git.poll: true` are read with git ls-remote. */
  WEBHOOK_GIT_POLL_INTERVAL_MS: z.coerce.number().int().min(1000).default(60_000),
  /**
   * How long deliveries are kept (`kiln events`), then deleted. Its unit is in the value (`7d`,
   * `24h`): a retention is thought of in days. At least an hour, and best longer than the git
   * host lets a delivery be redelivered (GitHub: 3 days), since a redelivery is recognised by
   * its stored delivery.
   */
  WEBHOOK_DELIVERY_RETENTION: env
    .duration("7d")
    .refine(
      (ms) => ms >= 3_600_000,
      "must be at least 1h (a redelivery is recognised by its stored delivery)",
    ),
  /** Rejected deliveries kept per BuildConfig (newest first); unsigned requests to a known path stop there. */
  WEBHOOK_REJECTED_DELIVERIES_PER_BUILD_CONFIG: env.int(1000),
});

await runService("webhook-receiver", ConfigSchema, async ({ config, logger, shutdown }) => {
  const database = await connectDatabase(config.DATABASE_URL);
  shutdown.add("postgres", () => database.close());
  const bus = await Bus.connect({
    servers: config.NATS_URL,
    prefix: config.KILN_SUBJECT_PREFIX,
    name: "kiln-webhook-receiver",
    logger,
    identity: { role: "webhook-receiver", nkeySeed: config.NATS_NKEY_SEED },
    tlsCaFile: config.NATS_TLS_CA_FILE,
  });
  shutdown.add("nats", () => bus.drain());
  await bus.waitForStreams("webhook-receiver");
  const receiver = new WebhookReceiver({
    db: database.db,
    bus,
    logger,
    host: config.WEBHOOK_HOST,
    port: config.WEBHOOK_PORT,
    bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
    secrets: SecretBox.fromKey(config.KILN_SECRETS_KEY),
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
  const url = await receiver.start();
  // Stopped first (registered last): in-flight deliveries finish storing and publishing before NATS drains.
  shutdown.add("http", () => receiver.stop());
  return { url };
});
