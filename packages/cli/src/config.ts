import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.js";

/** Where `kiln up` listens for the API when nothing else is configured. */
export const defaultApiUrl = "http://127.0.0.1:18080";
/** Where `kiln up` listens for webhooks when nothing else is configured. */
const defaultWebhookUrl = "http://127.0.0.1:18081";

export const CliConfigSchema = z.object({
  KILN_API_URL: z
    .string()
    .default(defaultApiUrl)
    .refine(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      "must be an http(s) URL",
    )
    .transform((u) => u.replace(/\/+$/, "")),
  KILN_TOKEN: z.string().optional(),
  /** Base URL of the webhook receiver, for `kiln webhooks` (written by `kiln up`). */
  KILN_WEBHOOK_URL: z
    .string()
    .default(defaultWebhookUrl)
    .refine(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      "must be an http(s) URL",
    )
    .transform((u) => u.replace(/\/+$/, "")),
  KILN_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a lowercase DNS-1123 label")
    .default("default"),
});

export interface CliConfig {
  apiUrl: string;
  /** Absent when no token is configured: the API then answers 401, which is the clearer message. */
  token: string | undefined;
  namespace: string;
  /** Base URL git providers reach the webhook receiver at (KILN_WEBHOOK_URL). */
  webhookUrl: string;
  /** Env files that were read, nearest last; shown by nothing yet but handy when debugging. */
  files: string[];
}

/** Keeps only the keys a shell would accept, so a stray line is reported with its number. */
const assignment = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/**
 * Parses shell-style `KEY=value` lines, the format `kiln up` writes and users source in a shell.
 * Supports comments, blank lines, `export`, and single or double quotes; it does not expand `$VAR`.
 */
export function parseEnvFile(text: string, file = "env"): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const match = assignment.exec(line);
    if (!match)
      throw new ConfigError(`${file}:${index + 1}: expected KEY=value, got ${JSON.stringify(raw)}`);
    const key = match[1] as string;
    out[key] = unquote(match[2] as string, file, index + 1);
  });
  return out;
}

/**
 * A value as sh reads it after `=`: unquoted, '…' and "…" segments concatenated, no expansion.
 * Unquoted whitespace ends the value and only a `# comment` may follow.
 */
function unquote(value: string, file: string, line: number): string {
  const fail = (why: string): never => {
    throw new ConfigError(`${file}:${line}: ${why}`);
  };
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) fail("unterminated ' quote");
      out += value.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i += 1;
      let closed = false;
      while (i < value.length) {
        const d = value[i] as string;
        const next = value[i + 1];
        if (d === "\\" && next !== undefined && '"\\$`'.includes(next)) {
          out += next;
          i += 2;
        } else if (d === '"') {
          closed = true;
          i += 1;
          break;
        } else {
          out += d;
          i += 1;
        }
      }
      if (!closed) fail('unterminated " quote');
    } else if (/\s/.test(c)) {
      const rest = value.slice(i).trim();
      if (rest !== "" && !rest.startsWith("#")) fail("unquoted space in value (quote it)");
      break;
    } else if (c === "\\" && i + 1 < value.length) {
      out += value[i + 1];
      i += 2;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** Writes what parseEnvFile reads; double-quotes values a shell would split, so the file can be `source`d too. */
export function formatEnvFile(values: Record<string, string>): string {
  return Object.entries(values)
    .map(
      ([k, v]) => `${k}=${/^[\w./:@%+,=-]*$/.test(v) ? v : `"${v.replace(/["\\$`]/g, "\\$&")}"`}`,
    )
    .join("\n")
    .concat("\n");
}

/** The nearest `.kiln/env` at or above `cwd`, or null. */
export function findEnvFile(cwd: string): string | null {
  let dir = resolve(cwd);
  for (;;) {
    const candidate = join(dir, ".kiln", "env");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseEnvFile(text, file);
}

export interface LoadCliConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Reads the CLI's configuration. Precedence, lowest first: the nearest `.kiln/env`,
 * `$KILN_STATE_DIR/env` (an explicit choice of a `kiln up` instance), then real environment variables.
 */
export function loadCliConfig(options: LoadCliConfigOptions = {}): CliConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const files: string[] = [];
  const merged: Record<string, string | undefined> = {};

  const nearest = findEnvFile(cwd);
  if (nearest) {
    Object.assign(merged, readEnvFile(nearest));
    files.push(nearest);
  }
  const stateDir = env.KILN_STATE_DIR;
  if (stateDir) {
    const file = join(resolve(cwd, stateDir), "env");
    // A state dir that `kiln up` has not written yet is not an error: the defaults still apply.
    if (existsSync(file)) {
      Object.assign(merged, readEnvFile(file));
      files.push(file);
    }
  }
  for (const key of ["KILN_API_URL", "KILN_TOKEN", "KILN_NAMESPACE", "KILN_WEBHOOK_URL"] as const) {
    const value = env[key];
    if (value !== undefined && value !== "") merged[key] = value;
  }
  // Empty values in a file mean "unset", like an empty variable in the shell.
  for (const key of Object.keys(merged)) if (merged[key] === "") delete merged[key];

  const parsed = CliConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = files.length > 0 ? ` (read ${files.join(", ")} and the environment)` : "";
    throw new ConfigError(
      `${issue?.path.join(".") ?? "config"}: ${issue?.message ?? "invalid"}${where}`,
    );
  }
  return {
    apiUrl: parsed.data.KILN_API_URL,
    token: parsed.data.KILN_TOKEN,
    namespace: parsed.data.KILN_NAMESPACE,
    webhookUrl: parsed.data.KILN_WEBHOOK_URL,
    files,
  };
}
