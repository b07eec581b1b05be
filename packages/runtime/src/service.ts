import { z } from "zod";
import { loadConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { Shutdown } from "./shutdown.js";

/** The secrets among `baseConfigShape`: every service's `SECRET_KEYS` starts with these. */
export const baseSecretKeys = ["NATS_NKEY_SEED"] as const;

/** Variables every service reads. Service schemas extend this shape. */
export const baseConfigShape = {
  NATS_URL: z.string().default("nats://127.0.0.1:14222"),
  /** CA of NATS's TLS certificate (k8s/: the kiln-nats-tls Secret's ca.crt); set, the connection must be TLS. */
  NATS_TLS_CA_FILE: z.string().min(1).optional(),
  /** The service's NKey user seed (`SU…`); Kiln's NATS lets no one in without one. A secret. */
  NATS_NKEY_SEED: z
    .string()
    .regex(/^SU[A-Z2-7]{56}$/, "must be an NKey user seed (SU…)")
    .optional(),
  /** First NATS subject token and stream-name prefix; tests give each run its own. */
  KILN_SUBJECT_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9]*$/, "must be one lowercase token")
    .default("kiln"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
};

/**
 * The environment a service reads, as JSON Schema of the schema's input side: `required` lists
 * the variables without a default, `properties` their defaults. Transforms and refinements are
 * not representable and are left open.
 */
export function configJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}

export interface ServiceContext<C> {
  config: C;
  logger: Logger;
  /** Register stop steps in start order; they run in reverse on SIGTERM/SIGINT. */
  shutdown: Shutdown;
}

/**
 * The frame of every service's `main.ts`: parse config once, make the logger, connect SIGTERM
 * to shutdown, run `start`. A failure to start is logged and runs the stop steps registered
 * so far, so a half-started service leaves no connection open.
 */
export async function runService<S extends z.ZodType>(
  name: string,
  reads: {
    schema: S;
    secretKeys: readonly string[];
    /**
     * How long the stop steps may take together, from the configuration: a service whose own
     * step has a configured grace (the build-runner's builds) must be given more than that.
     * @default defaultShutdownGraceMs
     */
    shutdownGraceMs?: (config: z.output<S>) => number;
  },
  start: (ctx: ServiceContext<z.output<S>>) => Promise<Record<string, unknown>>,
): Promise<void> {
  const { schema, secretKeys } = reads;
  // Two flags that start nothing, for operators writing a Deployment or a compose file and for
  // the tests that check those (test/k8s, test/compose): `--config-schema` prints what the service reads,
  // `--check-config` parses the environment as a start would and exits 0, or 2 naming every
  // wrong variable.
  const flags = process.argv.slice(2);
  if (flags.includes("--config-schema")) {
    process.stdout.write(`${JSON.stringify(configJsonSchema(schema), null, 2)}\n`);
    return;
  }
  let config: z.output<S>;
  try {
    config = loadConfig(schema);
  } catch (error) {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (flags.includes("--check-config")) {
    process.stdout.write(`${name}: configuration ok\n`);
    return;
  }
  const level = (config as { LOG_LEVEL?: string }).LOG_LEVEL ?? "info";
  const logger = createLogger({ service: name, level, secretKeys });
  const graceMs = reads.shutdownGraceMs?.(config);
  const shutdown = new Shutdown({ logger, ...(graceMs === undefined ? {} : { graceMs }) }).listen();
  // Each of these is a bug (a promise nobody awaits, an emitter without an 'error' listener):
  // said in the service's own log, with the stack, and then the service stops as it would on
  // SIGTERM (closing its connections) rather than dying mid-write with a line on stderr only.
  const fatal = (what: string) => (error: unknown) => {
    logger.fatal({ err: error }, what);
    void shutdown.run("error");
  };
  process.on("unhandledRejection", fatal("unhandled rejection"));
  process.on("uncaughtException", fatal("uncaught exception"));
  try {
    const info = await start({ config, logger, shutdown });
    logger.info(info, "started");
  } catch (error) {
    logger.fatal({ err: error }, "failed to start");
    // One plain line too, for whoever reads the terminal or `kiln up`'s error rather than JSON.
    process.stderr.write(
      `${name}: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    await shutdown.run("error");
  }
}
