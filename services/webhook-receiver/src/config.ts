import {
  baseConfigShape,
  baseSecretKeys,
  env,
  headersWithinRequest,
  metricsPortApart,
} from "@kiln/runtime";
import { defaultWebhookTimeouts } from "@kiln/webhooks";
import { z } from "zod";

export const ConfigSchema = z
  .object({
    ...baseConfigShape,
    DATABASE_URL: z.string().min(1),
    /** Seals the secrets Kiln stores (webhook secrets, registry credentials). A secret. */
    KILN_SECRETS_KEY: env.secretsKey(),
    WEBHOOK_HOST: z.string().default("127.0.0.1"),
    WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(18081),
    /**
     * /metrics (and /healthz, /readyz) for Prometheus, apart from WEBHOOK_PORT: git hosts, and
     * anyone, reach that one, and the deliveries' outcomes must not be read there.
     */
    WEBHOOK_METRICS_HOST: z.string().default("127.0.0.1"),
    WEBHOOK_METRICS_PORT: env.port(18087),
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
    /** A sender must have sent the request line and headers within this (a slowloris is cut off). */
    WEBHOOK_HEADERS_TIMEOUT_MS: env.timeoutMs(defaultWebhookTimeouts.headersTimeoutMs),
    /** A sender must have sent its whole request, body included, within this. */
    WEBHOOK_REQUEST_TIMEOUT_MS: env.timeoutMs(defaultWebhookTimeouts.requestTimeoutMs),
    /** A connection moving no byte mid-request for this long is closed. */
    WEBHOOK_IDLE_TIMEOUT_MS: env.timeoutMs(defaultWebhookTimeouts.idleTimeoutMs),
    /**
     * Where users reach Kiln's api (`https://kiln.example.com`): a commit status links to the
     * build's page below it (`/console/ns/<namespace>/builds/<build>`). Unset: statuses carry
     * no link (Bitbucket, which requires one, gets no status).
     */
    KILN_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** A git host's commit status API that has not answered within this is tried again later. */
    WEBHOOK_STATUS_REPORT_TIMEOUT_MS: env.timeoutMs(10_000),
  })
  .superRefine(headersWithinRequest("WEBHOOK"))
  .superRefine(metricsPortApart("WEBHOOK_PORT", "WEBHOOK_METRICS_PORT"));

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "KILN_SECRETS_KEY",
] as const satisfies readonly (keyof Config)[];
