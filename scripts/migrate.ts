/**
 * Applies Kiln's database migrations and exits: `kiln-service migrate` in the image, run as an
 * init container before every service that uses PostgreSQL (k8s/) and as the one-shot `migrate`
 * service of docker-compose.yml. `kiln up` and the test fixtures call `runMigrations` directly.
 *
 * Several of these may start at once (each pod has one); `runMigrations` holds a PostgreSQL
 * advisory lock, so they take turns and the later ones find nothing left to do.
 */
import { createDatabase, resealStoredSecrets, runMigrations, SecretBox } from "@kiln/db";
import { env, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  DATABASE_URL: z.string().min(1),
  /** With the key, secrets an older Kiln stored in clear are sealed too. A secret. */
  KILN_SECRETS_KEY: env.secretsKey().optional(),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

await runService(
  "migrate",
  { schema: ConfigSchema, secretKeys: ["DATABASE_URL", "KILN_SECRETS_KEY"] },
  async ({ config }) => {
    await runMigrations(config.DATABASE_URL);
    let sealed: number | undefined;
    if (config.KILN_SECRETS_KEY) {
      const database = createDatabase(config.DATABASE_URL, { max: 1 });
      try {
        sealed = await resealStoredSecrets(database.db, SecretBox.fromKey(config.KILN_SECRETS_KEY));
      } finally {
        await database.close();
      }
    }
    // Nothing stays open: the process ends once this returns and the "started" line is logged.
    return { migrations: "applied", ...(sealed === undefined ? {} : { secretsSealed: sealed }) };
  },
);
