import { z } from "zod";

/**
 * Parses a service's environment with its zod schema, once, in `main.ts`. A bad value stops
 * the service with every wrong variable named, instead of failing later mid-request.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): z.output<S> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}

export class ConfigError extends Error {
  readonly reason = "InvalidConfig";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const durationUnitMs = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
const durationPattern = /^(?:\d+[dhms])+$/;

/**
 * `7d`, `24h`, `90m`, `1d12h` → milliseconds; null for anything else (no bare numbers: a unit
 * left out is the mistake this catches, `7` meaning days to one reader and ms to another).
 */
export function parseDuration(text: string): number | null {
  if (!durationPattern.test(text)) return null;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([dhms])/g))
    ms += Number(amount) * durationUnitMs[unit as keyof typeof durationUnitMs];
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * The check an HTTP server's timeout variables need beside their own (`PREFIX_HEADERS_TIMEOUT_MS`
 * within `PREFIX_REQUEST_TIMEOUT_MS`): Node refuses a header deadline past the request's, the
 * headers being part of the request. For a schema's `superRefine`.
 */
export function headersWithinRequest<P extends string>(prefix: P) {
  const headers = `${prefix}_HEADERS_TIMEOUT_MS` as const;
  const request = `${prefix}_REQUEST_TIMEOUT_MS` as const;
  return (config: Record<typeof headers | typeof request, number>, ctx: z.RefinementCtx) => {
    if (config[headers] > config[request])
      ctx.addIssue({
        code: "custom",
        path: [headers],
        message: `must not be longer than ${request}`,
      });
  };
}

/**
 * The metrics port of a service whose main port the world reaches must be another one: its
 * metrics name namespaces and count refused requests, which that port must not tell anyone.
 */
export function metricsPortApart<M extends string, P extends string>(main: M, metrics: P) {
  return (config: Record<M | P, number>, ctx: z.RefinementCtx) => {
    if (config[metrics] !== 0 && config[metrics] === config[main])
      ctx.addIssue({
        code: "custom",
        path: [metrics],
        message: `must not be ${main}: /metrics stays off the port the world reaches`,
      });
  };
}

/** Env var helpers shared by every service's schema. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  /** A timeout in milliseconds, above zero. */
  timeoutMs: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  ms: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  int: (fallback: number) => z.coerce.number().int().min(1).default(fallback),
  /**
   * A duration with its unit in the value (`7d`, `24h`, `1d12h`), for spans an operator thinks of
   * in days or hours; parsed to milliseconds. `fallback` is written the same way.
   */
  duration: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((text, ctx) => {
        const ms = parseDuration(text.trim());
        if (ms !== null) return ms;
        ctx.addIssue({
          code: "custom",
          message: `must be a duration such as 7d, 24h, 90m or 1d12h (units d, h, m, s), not "${text}"`,
        });
        return z.NEVER;
      }),
  /** A comma-separated list. */
  list: () =>
    z
      .string()
      .default("")
      .transform((s) =>
        s
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
      ),
  bool: (fallback: boolean) =>
    z
      .enum(["true", "false", "1", "0"])
      .default(fallback ? "true" : "false")
      .transform((v) => v === "true" || v === "1"),
  logLevel: () =>
    z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** A key of the runners' sealing pair: one line of JSON, an X25519 JWK (`d` only in the private one). */
  sealingKey: (which: "public" | "private") =>
    z.string().refine((text) => {
      try {
        const jwk = JSON.parse(text) as Record<string, unknown>;
        return (
          jwk.kty === "OKP" &&
          jwk.crv === "X25519" &&
          typeof jwk.x === "string" &&
          (which === "private") === (typeof jwk.d === "string")
        );
      } catch {
        return false;
      }
    }, `must be the runners' ${which} sealing key (an X25519 JWK, as kiln up writes it)`),
  /** The key that seals stored secrets (`KILN_SECRETS_KEY`): 32 random bytes in base64, as `kiln up` writes it. */
  secretsKey: () =>
    z
      .string()
      .refine(
        (text) => Buffer.from(text, "base64").length === 32 && /^[A-Za-z0-9+/]{43}=$/.test(text),
        "must be 32 bytes in base64 (44 characters), as kiln up writes it",
      ),
  /** NATS subject prefix: a single lowercase token, so tests can isolate themselves. */
  subjectPrefix: () =>
    z
      .string()
      .regex(/^[a-z][a-z0-9]*$/, "must be one lowercase token")
      .default("kiln"),
};

/**
 * Kiln's own registry account, for the services that talk to Kiln's registry (the
 * build-runner, the image-watcher): `kiln up` generates it, a cluster takes it from a Secret.
 * Both or neither (`checkRegistryCredentials`). The password is one of `redactedPaths`.
 */
export const registryCredentialsShape = {
  KILN_REGISTRY_USERNAME: z
    .string()
    .regex(/^[^:\s]+$/, "must be a user name without ':' or spaces")
    .optional(),
  KILN_REGISTRY_PASSWORD: z.string().min(1).optional(),
};

type RegistryCredentialsConfig = {
  KILN_REGISTRY_USERNAME?: string | undefined;
  KILN_REGISTRY_PASSWORD?: string | undefined;
};

/** For a schema's `superRefine`: a user without a password (or the reverse) is a mistake, not anonymous access. */
export function checkRegistryCredentials(c: RegistryCredentialsConfig, ctx: z.RefinementCtx): void {
  const [user, password] = [c.KILN_REGISTRY_USERNAME, c.KILN_REGISTRY_PASSWORD];
  if ((user === undefined) === (password === undefined)) return;
  ctx.addIssue({
    code: "custom",
    path: [user === undefined ? "KILN_REGISTRY_USERNAME" : "KILN_REGISTRY_PASSWORD"],
    message:
      "required with KILN_REGISTRY_USERNAME and KILN_REGISTRY_PASSWORD: give both or neither",
  });
}

/** The account a parsed config names; undefined: none (Kiln's registry takes anonymous callers). */
export function registryCredentialsOf(
  c: RegistryCredentialsConfig,
): { username: string; password: string } | undefined {
  return c.KILN_REGISTRY_USERNAME !== undefined && c.KILN_REGISTRY_PASSWORD !== undefined
    ? { username: c.KILN_REGISTRY_USERNAME, password: c.KILN_REGISTRY_PASSWORD }
    : undefined;
}
