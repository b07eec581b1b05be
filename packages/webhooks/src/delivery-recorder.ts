import {
  recordWebhookDeliveries,
  type Db,
  type NewWebhookDelivery,
  type WebhookDeliveryRecord,
} from "@kiln/db";

type Recorded = { inserted: boolean; delivery: WebhookDeliveryRecord };
type Waiter = {
  delivery: NewWebhookDelivery;
  resolve: (r: Recorded) => void;
  reject: (e: unknown) => void;
};

/**
 * Stores webhook deliveries with group commit: while one INSERT is in flight, the deliveries
 * that arrive queue up and go together in the next one. An idle receiver writes each delivery
 * at once (no timer, no added latency); a burst costs one round trip and one commit per batch
 * instead of one per delivery, which is what lets one receiver keep up with thousands a second.
 * Every caller still learns its own outcome before it answers its sender.
 */
export class DeliveryRecorder {
  private queue: Waiter[] = [];
  private flushing = false;

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
  ) {}

  record(delivery: NewWebhookDelivery): Promise<Recorded> {
    return new Promise((resolve, reject) => {
      this.queue.push({ delivery, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.write(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(batch: Waiter[]): Promise<void> {
    try {
      const results = await recordWebhookDeliveries(
        this.db,
        batch.map((w) => w.delivery),
      );
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad row must not fail the others: retry each alone, so only its sender sees the error.
      for (const w of batch) {
        try {
          const [result] = await recordWebhookDeliveries(this.db, [w.delivery]);
          w.resolve(result!);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }
}
