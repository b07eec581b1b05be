import { Gauge, type Registry } from "prom-client";

export interface ConsumerLagOptions {
  registry: Registry;
  /** Each durable consumer of this service and the messages it has not been delivered yet. */
  read: () => Promise<Record<string, number>>;
  /** A reading younger than this is served as it is. @default 5000 */
  maxAgeMs?: number;
  /** How long a scrape waits for a fresh reading before it shows the last one. @default 1000 */
  timeoutMs?: number;
}

/**
 * `kiln_consumer_pending_messages{consumer}`, read from JetStream's consumer info
 * (`num_pending`) when Prometheus scrapes, never on a timer of its own. A scrape waits at most
 * `timeoutMs` for NATS and shows the last reading otherwise; scrapes that come together share
 * one reading, and a reading is reused for `maxAgeMs`. The service's work never waits on it:
 * nothing but the scrape awaits the reading.
 */
export class ConsumerLag {
  private last: { at: number; values: Record<string, number> } | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly options: ConsumerLagOptions) {
    const lag = this;
    new Gauge({
      name: "kiln_consumer_pending_messages",
      help: "Messages of a durable JetStream consumer not yet delivered to this service (num_pending): its backlog.",
      labelNames: ["consumer"],
      registers: [options.registry],
      async collect() {
        const values = await lag.current();
        this.reset();
        for (const [consumer, pending] of Object.entries(values)) this.set({ consumer }, pending);
      },
    });
  }

  /** The freshest reading available within the scrape's wait; empty before the first one. */
  async current(): Promise<Record<string, number>> {
    const maxAgeMs = this.options.maxAgeMs ?? 5_000;
    if (!this.last || Date.now() - this.last.at >= maxAgeMs) {
      this.inFlight ??= this.options
        .read()
        .then((values) => {
          this.last = { at: Date.now(), values };
        })
        // A failed reading keeps the last one: NATS being away is for /readyz to say.
        .catch(() => undefined)
        .finally(() => {
          this.inFlight = null;
        });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.inFlight,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.options.timeoutMs ?? 1_000);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.last?.values ?? {};
  }
}
