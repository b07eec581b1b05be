import type { Logger } from "pino";

/**
 * How long a service's stop steps may take together before it exits anyway. Whoever stops a
 * service (`kiln up`, a pod's terminationGracePeriodSeconds) must wait longer than this, or it
 * kills the service mid-step (the build-runner's own grace, 20 s by default, runs inside it).
 */
export const defaultShutdownGraceMs = 25_000;

export interface ShutdownOptions {
  logger: Logger;
  /** How long every handler together may take before the process exits anyway. @default defaultShutdownGraceMs */
  graceMs?: number;
  /** Injected for tests; defaults to `process.exit`. */
  exit?: (code: number) => void;
}

type Handler = { name: string; run: () => Promise<void> | void };

/**
 * Owns SIGTERM/SIGINT for a service. Handlers are registered in start order and run in
 * reverse (stop pulling before draining NATS before closing the pool), each awaited in turn
 * so a later step never pulls the rug from an earlier one. Idempotent; exits 128 + signal.
 */
export class Shutdown {
  private readonly handlers: Handler[] = [];
  private readonly logger: Logger;
  private readonly graceMs: number;
  private readonly exit: (code: number) => void;
  private running: Promise<void> | null = null;

  constructor(options: ShutdownOptions) {
    this.logger = options.logger;
    this.graceMs = options.graceMs ?? defaultShutdownGraceMs;
    this.exit = options.exit ?? ((code) => process.exit(code));
  }

  /** Registers a step; steps run in reverse registration order. */
  add(name: string, run: Handler["run"]): this {
    this.handlers.push({ name, run });
    return this;
  }

  /** Connects SIGTERM and SIGINT to {@link run}. */
  listen(): this {
    process.once("SIGTERM", () => void this.run("SIGTERM"));
    process.once("SIGINT", () => void this.run("SIGINT"));
    return this;
  }

  run(signal: "SIGTERM" | "SIGINT" | "error" = "SIGTERM"): Promise<void> {
    this.running ??= this.runOnce(signal);
    return this.running;
  }

  private async runOnce(signal: "SIGTERM" | "SIGINT" | "error"): Promise<void> {
    const code = signal === "SIGTERM" ? 143 : signal === "SIGINT" ? 130 : 1;
    this.logger.info({ signal }, "shutting down");
    const deadline = setTimeout(() => {
      this.logger.error({ graceMs: this.graceMs }, "shutdown grace period exceeded, exiting");
      this.exit(code);
    }, this.graceMs);
    deadline.unref();
    for (const handler of [...this.handlers].reverse()) {
      const started = Date.now();
      try {
        await handler.run();
        this.logger.info(
          { step: handler.name, durationMs: Date.now() - started },
          "shutdown step done",
        );
      } catch (error) {
        this.logger.error({ step: handler.name, err: error }, "shutdown step failed");
      }
    }
    clearTimeout(deadline);
    this.logger.info({ exitCode: code }, "stopped");
    this.exit(code);
  }
}
