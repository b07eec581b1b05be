import { defaultApiTimeouts } from "@kiln/api";
import {
  baseConfigShape,
  baseSecretKeys,
  env,
  headersWithinRequest,
  metricsPortApart,
} from "@kiln/runtime";
import { z } from "zod";

export const ConfigSchema = z
  .object({
    ...baseConfigShape,
    DATABASE_URL: z.string().min(1),
    /** Seals the secrets Kiln stores (webhook secrets, registry credentials). A secret. */
    KILN_SECRETS_KEY: env.secretsKey(),
    KILN_REGISTRY: z.string().min(1),
    /** The engine the build-runners use (their BUILD_RUNNER_ENGINE): apply warns of BuildConfig fields it ignores. */
    API_BUILD_ENGINE: z.enum(["local", "noop", "kubernetes"]).default("local"),
    /** Where git hosts reach the webhook receiver: the console shows webhook URLs under it. */
    KILN_WEBHOOK_URL: z.string().url().optional(),
    API_HOST: z.string().default("127.0.0.1"),
    API_PORT: z.coerce.number().int().min(0).max(65535).default(18080),
    /** /metrics (and /healthz, /readyz) for Prometheus, apart from API_PORT: no token, no namespaces shown to the world. */
    API_METRICS_HOST: z.string().default("127.0.0.1"),
    API_METRICS_PORT: env.port(18086),
    /** Bearer token for every route but /healthz; `kiln up` generates it into the state dir. */
    API_TOKEN: z.string().min(16, "must be at least 16 characters"),
    API_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(5 * 1024 * 1024),
    /**
     * `kubernetes`: a bearer token that is not a Kiln token is reviewed by the cluster
     * (TokenReview), and the user's role in a namespace is read off its RBAC
     * (SubjectAccessReview); Kiln's own tokens keep working. The cluster is the pod's service
     * account, or KUBECONFIG. `none`: Kiln's tokens only.
     */
    API_AUTH_DELEGATION: z.enum(["none", "kubernetes"]).default("none"),
    /** The kubeconfig file for API_AUTH_DELEGATION=kubernetes outside a cluster. */
    KUBECONFIG: z.string().optional(),
    /** Largest binary-build upload (`start-build --from-*`); streamed to the object store, never buffered. */
    API_BINARY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(512 * 1024 * 1024),
    /** A client must have sent the request line and headers within this (a slowloris is cut off). */
    API_HEADERS_TIMEOUT_MS: env.timeoutMs(defaultApiTimeouts.headersTimeoutMs),
    /**
     * A client must have sent its whole request, body included, within this: at least what the
     * largest binary upload (API_BINARY_LIMIT_BYTES) takes over the slowest link to serve.
     */
    API_REQUEST_TIMEOUT_MS: env.timeoutMs(defaultApiTimeouts.requestTimeoutMs),
    /** A connection moving no byte mid-request for this long is closed (a followed log is exempt). */
    API_IDLE_TIMEOUT_MS: env.timeoutMs(defaultApiTimeouts.idleTimeoutMs),
  })
  .superRefine(headersWithinRequest("API"))
  .superRefine(metricsPortApart("API_PORT", "API_METRICS_PORT"));

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "DATABASE_URL",
  "API_TOKEN",
  "KILN_SECRETS_KEY",
] as const satisfies readonly (keyof Config)[];
