import { displayUrl } from "@kiln/deployer";
import { baseConfigShape, baseSecretKeys, env } from "@kiln/runtime";
import { z } from "zod";

export const ConfigSchema = z
  .object({
    ...baseConfigShape,
    DATABASE_URL: z.string().min(1),
    /** Address of /healthz; loopback unless told otherwise (a container sets 0.0.0.0 so the kubelet can probe it). */
    DEPLOYER_HEALTH_HOST: z.string().default("127.0.0.1"),
    DEPLOYER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18085),
    /**
     * The only namespaces whose workloads are watched and patched. Empty (the default): the
     * Kubernetes half stays off even with a kubeconfig, so nothing is patched by accident.
     */
    DEPLOYER_NAMESPACES: env.list(),
    /** A kubeconfig file; unset: the pod's service account in a cluster, else no Kubernetes at all. */
    KUBECONFIG: z.string().optional(),
    /** Longest a rollout may take before its deploy ends Failed (DeadlineExceeded). */
    DEPLOYER_ROLLOUT_DEADLINE_MS: z.coerce.number().int().min(1000).default(600_000),
    /** URLs that get a signed POST for every image change (comma-separated). */
    DEPLOYER_HTTP_TARGETS: env.list(),
    /** HMAC-SHA256 key of the X-Kiln-Signature-256 header; required with DEPLOYER_HTTP_TARGETS. Never logged. */
    DEPLOYER_HTTP_SECRET: z.string().min(16, "at least 16 characters").optional(),
  })
  .superRefine((c, ctx) => {
    for (const url of c.DEPLOYER_HTTP_TARGETS) {
      if (!/^https?:\/\/[^\s]+$/.test(url) || !URL.canParse(url))
        ctx.addIssue({
          code: "custom",
          path: ["DEPLOYER_HTTP_TARGETS"],
          message: `not an http(s) URL: ${displayUrl(url)}`,
        });
    }
    if (c.DEPLOYER_HTTP_TARGETS.length > 0 && !c.DEPLOYER_HTTP_SECRET) {
      ctx.addIssue({
        code: "custom",
        path: ["DEPLOYER_HTTP_SECRET"],
        message: "required when DEPLOYER_HTTP_TARGETS is set: every POST is signed",
      });
    }
  });

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "DEPLOYER_HTTP_SECRET",
] as const satisfies readonly (keyof Config)[];
