import {
  recordWebhookDeliveries,
  type Db,
  type NewWebhookDelivery,
  type WebhookDeliveryRecord,
  type WebhookRefusal,
} from "@kiln/db";

type Recorded = { inserted: boolean; delivery: WebhookDeliveryRecord };
type Waiter =
  | {
      kind: "store";
      delivery: NewWebhookDelivery;
      resolve: (r: Recorded) => void;
      reject: (e: unknown) => void;
    }
  | {
      kind: "count";
      refusal: WebhookRefusal;
      resolve: () => void;
      reject: (e: unknown) => void;
    };

/**
 * Stores webhook deliveries with group commit: while one INSERT is in flight, the deliveries
 * that arrive queue up and go together in the next one. An idle receiver writes each delivery
 * at once (no timer, no added latency); a burst costs one round trip and one commit per batch
 * instead of one per delivery, which is what lets one receiver keep up with thousands a second.
 * Every caller still learns its own outcome before it answers its sender.
 *
 * Refusals that are only counted wait in the same queue and go in the same statement: a request
 * for a BuildConfig that does not exist must take as long as one for a BuildConfig that does.
 */
export class DeliveryRecorder {
  private queue: Waiter[] = [];
  private flushing = false;

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
  ) {}

  record(delivery: NewWebhookDelivery): Promise<Recorded> {
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: "store", delivery, resolve, reject }),
    );
  }

  /** Adds the refusal to its counter; resolves once that is committed, as `record` does. */
  count(refusal: WebhookRefusal): Promise<void> {
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: "count", refusal, resolve, reject }),
    );
  }

  private enqueue(waiter: Waiter): void {
    this.queue.push(waiter);
    if (!this.flushing) void this.flush();
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
      await writeBatch(this.db, batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad row must not fail the others: retry each alone, so only its sender sees the error.
      for (const w of batch) {
        try {
          await writeBatch(this.db, [w]);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }
}

/** One statement for the batch; resolves every waiter, or throws and resolves none. */
async function writeBatch(db: Db, batch: Waiter[]): Promise<void> {
  const stores = batch.filter((w) => w.kind === "store");
  const counts = batch.filter((w) => w.kind === "count");
  const results = await recordWebhookDeliveries(
    db,
    stores.map((w) => w.delivery),
    counts.map((w) => w.refusal),
  );
  stores.forEach((w, i) => w.resolve(results[i]!));
  for (const w of counts) w.resolve();
}
