import {
  destination as stdoutDestination,
  pino,
  type DestinationStream,
  type Logger,
  type LoggerOptions,
} from "pino";

export type { Logger };

/**
 * Field paths that never reach a log line. Config objects are logged at start-up and a header
 * or a secret may end up in an error's context, so these are redacted everywhere.
 */
export const redactedPaths = [
  "token",
  "apiToken",
  "password",
  "secret",
  "databaseUrl",
  "config.apiToken",
  "config.databaseUrl",
  "config.webhookToken",
  "headers.authorization",
  "req.headers.authorization",
  "*.token",
  "*.secret",
  "*.password",
  // Kiln's registry account, and registry credentials in the forms they travel in: a
  // RegistryRepository's base64 `user:password`, a build's docker config JSONs.
  "KILN_REGISTRY_PASSWORD",
  "config.KILN_REGISTRY_PASSWORD",
  "*.KILN_REGISTRY_PASSWORD",
  "basicAuth",
  "*.basicAuth",
  "credentials",
  "*.credentials",
];

export interface CreateLoggerOptions {
  /** The service name, on every line as `service`. */
  service: string;
  level?: string;
  /**
   * The service's secret variables (its config's `SECRET_KEYS`): redacted wherever they appear
   * as a field, at the top, one level down, and in a logged `config`.
   */
  secretKeys?: readonly string[];
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger({
  service,
  level = "info",
  destination,
  secretKeys = [],
}: CreateLoggerOptions): Logger {
  const paths = [...redactedPaths, ...secretKeys.flatMap((k) => [k, `*.${k}`, `config.${k}`])];
  const options: LoggerOptions = {
    level,
    base: { service },
    redact: { paths: [...new Set(paths)], censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Asynchronous to stdout: lines that come while a write is under way go out together in the
  // next one (a burst of webhooks was spending a fifth of its CPU on one writev per line), and
  // an idle service still writes each line at once. pino flushes what is queued on exit.
  return pino(
    options,
    (destination as DestinationStream | undefined) ?? stdoutDestination({ dest: 1, sync: false }),
  );
}

/** Hides the password in a URL such as `postgres://user:pw@host/db` before it is logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "redacted";
    return parsed.toString();
  } catch {
    return "[unparseable url]";
  }
}
