import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { ManagedProcess } from "./managed-process.js";

export type SpawnServiceOptions = {
  /** Service name, e.g. `scheduler` (used in errors). */
  name: string;
  /** TypeScript entry point, e.g. `services/scheduler/src/main.ts`. */
  entry: string;
  /** Extra environment on top of the parent's (NATS_URL, DATABASE_URL, ...). */
  env?: Record<string, string | undefined>;
  logFile?: string;
  cwd?: string;
  /** Node binary. @default process.execPath */
  node?: string;
};

/**
 * Starts a Kiln service as `node --import tsx <entry>`. tsx is resolved from this package, so the
 * service starts the same from any working directory (`kiln up` is run from anywhere).
 */
export async function spawnService(options: SpawnServiceOptions): Promise<ManagedProcess> {
  const proc = new ManagedProcess({
    name: options.name,
    command: options.node ?? process.execPath,
    args: ["--import", tsxLoaderUrl(), options.entry],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  await proc.start();
  return proc;
}

/** file: URL of tsx's `--import` entry (its package "." export, `dist/loader.mjs`). */
export function tsxLoaderUrl(): string {
  // createRequire rather than import.meta.resolve: vitest's module runner does not provide the
  // latter. tsx's "." export has no "require" condition, so resolve package.json and join.
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve("tsx/package.json");
  return pathToFileURL(pkgJson.replace(/package\.json$/, "dist/loader.mjs")).href;
}
