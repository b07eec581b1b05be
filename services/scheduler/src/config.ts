import { baseConfigShape, baseSecretKeys, env } from "@kiln/runtime";
import { z } from "zod";

export const ConfigSchema = z.object({
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

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "KILN_SECRETS_KEY",
] as const satisfies readonly (keyof Config)[];
