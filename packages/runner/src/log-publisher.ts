import type { Bus } from "@kiln/bus";
import type { BuildStep } from "@kiln/domain";

export interface LogPublisherOptions {
  bus: Bus;
  buildId: string;
  attempt: number;
  /** Lines are sent at most this long after they were printed. @default 50 */
  flushIntervalMs?: number;
  /** Lines kept for the build's `logSnippet`. @default 20 */
  tailLines?: number;
}

/** How long a log batch is tried again while NATS cannot take it. */
const logRetryMs = 10_000;

/**
 * Streams a build's output to the bus in small batches: live enough for `kiln logs -f`,
 * without one JetStream publish per line of a chatty build. Publishes are chained so
 * batches land in order; `close()` waits for the last one.
 */
export class LogPublisher {
  private buffer: string[] = [];
  private readonly tail: string[] = [];
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private failure: unknown = null;
  /** The last batch could not be stored: the next ones are not retried until one is (see flush). */
  private failing = false;

  constructor(private readonly options: LogPublisherOptions) {}

  line(text: string): void {
    this.buffer.push(text);
    this.tail.push(text);
    if (this.tail.length > (this.options.tailLines ?? 20)) this.tail.shift();
    if (this.buffer.length >= 500) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.flushIntervalMs ?? 50);
  }

  step(step: BuildStep): void {
    this.line(`--> ${step}`);
  }

  /** The last lines printed, for a failed build's status. */
  snippet(): string {
    return this.tail.join("\n");
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length === 0) return;
    const lines = this.buffer;
    this.buffer = [];
    const seq = this.seq++;
    const { bus, buildId, attempt } = this.options;
    this.chain = this.chain.then(async () => {
      try {
        await bus.publish(
          "build.log-appended",
          buildId,
          { v: 1, buildId, attempt, seq, lines, at: new Date().toISOString() },
          // A NATS restart loses no lines; a longer outage costs one wait, not one per batch
          // (they are sent one after the other, and the build's status waits for the last).
          { msgId: `${buildId}:${attempt}:log:${seq}`, retryForMs: this.failing ? 0 : logRetryMs },
        );
        this.failing = false;
      } catch (error) {
        // A lost log batch must not fail the build; remember it for the runner to report.
        this.failure = error;
        this.failing = true;
      }
    });
  }

  /** Sends what is buffered and waits until every batch is stored. */
  async close(): Promise<unknown> {
    this.flush();
    await this.chain;
    return this.failure;
  }
}
