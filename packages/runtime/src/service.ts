import { z } from "zod";
import { loadConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { Shutdown } from "./shutdown.js";

/** Variables every service reads. Service schemas extend this shape. */
export const baseConfigShape = {
  NATS_URL: z.string().default("nats://127.0.0.1:14222"),
  /** First NATS subject token and stream-name prefix; tests give each run its own. */
  KILN_SUBJECT_PREFIX: z.string().regex(/^[a-z][a-z0-9]*$/, "must be one lowercase token").default("kiln"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
};

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
  schema: S,
  start: (ctx: ServiceContext<z.output<S>>) => Promise<Record<string, unknown>>,
): Promise<void> {
  let config: z.output<S>;
  try {
    config = loadConfig(schema);
  } catch (error) {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const level = (config as { LOG_LEVEL?: string }).LOG_LEVEL ?? "info";
  const logger = createLogger({ service: name, level });
  const shutdown = new Shutdown({ logger }).listen();
  try {
    const info = await start({ config, logger, shutdown });
    logger.info(info, "started");
  } catch (error) {
    logger.fatal({ err: error }, "failed to start");
    await shutdown.run("error");
  }
}
