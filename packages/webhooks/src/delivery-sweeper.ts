import {
  buildConfigsOverRejectedCap,
  deleteWebhookDeliveriesOlderThan,
  deleteWebhookRefusalCountsOlderThan,
  trimRejectedWebhookDeliveries,
  type Db,
} from "@kiln/db";
import type { Logger } from "pino";

export interface DeliverySweeperOptions {
  db: Db;
  logger: Logger;
  /** Deliveries, and refusal counters, older than this are deleted (WEBHOOK_DELIVERY_RETENTION). */
  retentionMs: number;
  /**
   * Rejected deliveries kept per BuildConfig, newest first (WEBHOOK_REJECTED_DELIVERIES_PER_BUILD_CONFIG).
   * The webhook path of a BuildConfig is no secret, so anyone can send it unsigned requests by
   * the thousand a second; this keeps them from filling the table until the retention ends.
   */
  rejectedPerBuildConfig: number;
  /** @default 60000 */
  intervalMs?: number;
  /** Rows per DELETE: each batch holds its row locks only as long as one short statement. @default 1000 */
  batchSize?: number;
}

/** What one sweep deleted. */
export interface SweepResult {
  /** Deliveries past the retention. */
  expired: number;
  /** Rejected deliveries past a BuildConfig's cap. */
  trimmed: number;
  /** Refusal counters of hours past the retention. */
  counters: number;
}

/**
 * Keeps `webhook_deliveries` bounded: on an interval it deletes what is older than the retention
 * and each BuildConfig's rejected deliveries beyond its cap, a batch at a time, so no statement
 * holds locks for long and the receiver's inserts never wait behind a sweep. Several receivers
 * may sweep at once: the retention's batches skip rows another one holds, and a delete finding
 * its row gone is no error.
 */
export class DeliverySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepResult> | null = null;
  private stopping = false;
  /** When the last sweep began (ms since epoch); null before the first, which looks at every BuildConfig. */
  private lastSweepAt: number | null = null;
  private readonly log: Logger;

  constructor(private readonly options: DeliverySweeperOptions) {
    this.log = options.logger.child({ component: "delivery-sweeper" });
  }

  /** Sweeps now (what piled up while the receiver was down), then on every interval. */
  start(): void {
    this.stopping = false;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 60_000);
  }

  /** Stops the interval; a sweep under way ends after its current batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private tick(): void {
    this.running ??= this.sweep()
      .catch((error: unknown) => {
        // The next interval tries again; a delivery kept a minute longer harms no one.
        this.log.warn({ err: error }, "webhook delivery sweep failed");
        return { expired: 0, trimmed: 0, counters: 0 };
      })
      .finally(() => (this.running = null));
  }

  /** One sweep: the retention first (it may leave nothing to trim), then the caps. */
  async sweep(): Promise<SweepResult> {
    const started = Date.now();
    const expired = await this.inBatches((limit) =>
      deleteWebhookDeliveriesOlderThan(this.options.db, this.options.retentionMs, limit),
    );
    const counters = await deleteWebhookRefusalCountsOlderThan(
      this.options.db,
      this.options.retentionMs,
    );
    const trimmed = await this.trimCaps(started);
    this.lastSweepAt = started;
    if (expired + trimmed + counters > 0)
      this.log.info(
        { expired, trimmed, counters, durationMs: Date.now() - started },
        "webhook deliveries swept",
      );
    return { expired, trimmed, counters };
  }

  /**
   * Only BuildConfigs with a rejected delivery since the previous sweep can have gone over their
   * cap; the minute of slack covers deliveries stamped before it began and committed after.
   */
  private async trimCaps(started: number): Promise<number> {
    const withinMs = this.lastSweepAt === null ? null : started - this.lastSweepAt + 60_000;
    let trimmed = 0;
    const { db, rejectedPerBuildConfig: keep } = this.options;
    for (const target of await buildConfigsOverRejectedCap(db, keep, withinMs)) {
      if (this.stopping) break;
      trimmed += await this.inBatches((limit) =>
        trimRejectedWebhookDeliveries(db, target, keep, limit),
      );
    }
    return trimmed;
  }

  /** Runs `deleteBatch` until a batch comes back short (or the sweeper is stopping). */
  private async inBatches(deleteBatch: (limit: number) => Promise<number>): Promise<number> {
    const limit = this.options.batchSize ?? 1000;
    let total = 0;
    for (;;) {
      const deleted = await deleteBatch(limit);
      total += deleted;
      if (deleted < limit || this.stopping) return total;
    }
  }
}
