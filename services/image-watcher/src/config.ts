import { notificationSources, type NotificationSource } from "@kiln/image-watcher";
import {
  baseConfigShape,
  baseSecretKeys,
  checkRegistryCredentials,
  metricsPortApart,
  registryCredentialsShape,
} from "@kiln/runtime";
import { z } from "zod";

const port = z.coerce.number().int().min(0).max(65535);
const list = z
  .string()
  .default("")
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );

export const ConfigSchema = z
  .object({
    ...baseConfigShape,
    DATABASE_URL: z.string().min(1),
    KILN_REGISTRY: z.string().min(1),
    /** The image-watcher's account in Kiln's registry (secret): sent to that registry only. */
    ...registryCredentialsShape,
    KILN_INSECURE_REGISTRIES: list,
    IMAGE_WATCHER_HOST: z.string().default("127.0.0.1"),
    /** The one HTTP server: /healthz and the registry notification routes. */
    IMAGE_WATCHER_PORT: port.optional(),
    /** Older name of the same port, still honoured when IMAGE_WATCHER_PORT is unset. */
    IMAGE_WATCHER_HEALTH_PORT: port.default(18084),
    /** /metrics (and /healthz, /readyz) for Prometheus, apart from the port registries reach. */
    IMAGE_WATCHER_METRICS_HOST: z.string().default("127.0.0.1"),
    IMAGE_WATCHER_METRICS_PORT: port.default(18088),
    /** Bearer token every notification must carry; none = accept any caller (loopback only by default). */
    IMAGE_WATCHER_NOTIFICATION_TOKEN: z.string().min(1).optional(),
    /** Per-source tokens overriding the one above: `harbor=secret,quay=other`. */
    IMAGE_WATCHER_NOTIFICATION_TOKENS: list,
    IMAGE_WATCHER_IMPORT_INTERVAL_MS: z.coerce.number().int().min(100).default(60_000),
    IMAGE_WATCHER_NOTIFICATION_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
  })
  .superRefine((c, ctx) => {
    checkRegistryCredentials(c, ctx);
    for (const entry of c.IMAGE_WATCHER_NOTIFICATION_TOKENS) {
      const [source, token] = entry.split("=", 2);
      if (!notificationSources.includes(source as NotificationSource) || !token) {
        ctx.addIssue({
          code: "custom",
          path: ["IMAGE_WATCHER_NOTIFICATION_TOKENS"],
          message: `want SOURCE=TOKEN with SOURCE one of ${notificationSources.join(", ")}`,
        });
      }
    }
    metricsPortApart("IMAGE_WATCHER_PORT", "IMAGE_WATCHER_METRICS_PORT")(
      {
        IMAGE_WATCHER_PORT: c.IMAGE_WATCHER_PORT ?? c.IMAGE_WATCHER_HEALTH_PORT,
        IMAGE_WATCHER_METRICS_PORT: c.IMAGE_WATCHER_METRICS_PORT,
      },
      ctx,
    );
  });

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "KILN_REGISTRY_PASSWORD",
  "IMAGE_WATCHER_NOTIFICATION_TOKEN",
  "IMAGE_WATCHER_NOTIFICATION_TOKENS",
] as const satisfies readonly (keyof Config)[];
