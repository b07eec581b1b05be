import { baseConfigShape, baseSecretKeys, env } from "@kiln/runtime";
import { z } from "zod";

export const ConfigSchema = z.object({
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

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "API_TOKEN",
  "KILN_SECRETS_KEY",
] as const satisfies readonly (keyof Config)[];
