import { KilnClient } from "./client.js";
import { loadCliConfig, type CliConfig } from "./config.js";

/** Something text can be written to: process.stdout in real life, a buffer in tests. */
export interface TextSink {
  write(chunk: string): unknown;
}

/** Everything a command touches outside itself, injected so tests run commands in-process. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  stdin: AsyncIterable<string | Uint8Array>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  fetch: typeof fetch;
  now: () => Date;
  /** Waits between polls; tests pass a no-op. */
  sleep: (ms: number) => Promise<void>;
  /** Called once with the exit code when a command fails; the default sets process.exitCode. */
  exit: (code: number) => void;
}

export function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    fetch: (input, init) => fetch(input, init),
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    exit: (code) => {
      process.exitCode = code;
    },
  };
}

/**
 * Per-run state shared by commands. Configuration is read lazily: `kiln version` and `kiln up`
 * must work before any `.kiln/env` exists.
 */
export class CommandContext {
  private config: CliConfig | undefined;
  private apiClient: KilnClient | undefined;

  constructor(readonly io: CliIo) {}

  getConfig(): CliConfig {
    this.config ??= loadCliConfig({ env: this.io.env, cwd: this.io.cwd });
    return this.config;
  }

  client(): KilnClient {
    const config = this.getConfig();
    this.apiClient ??= new KilnClient({
      baseUrl: config.apiUrl,
      token: config.token,
      fetch: this.io.fetch,
    });
    return this.apiClient;
  }

  /** `-n` wins over KILN_NAMESPACE and the env files. */
  namespace(flag: string | undefined): string {
    return flag ?? this.getConfig().namespace;
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  err(text: string): void {
    this.io.stderr.write(text);
  }
}
