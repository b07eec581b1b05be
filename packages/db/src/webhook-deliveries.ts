import { and, desc, eq, sql } from "drizzle-orm";
import type { DbOrTx } from "./client.js";
import { builds, webhookDeliveries } from "./schema.js";

/** What became of a webhook delivery; the values are stored in `webhook_deliveries.outcome`. */
export const WebhookOutcome = {
  BuildRequested: "build-requested",
  Skipped: "skipped",
  Rejected: "rejected",
} as const;
export type WebhookOutcome = (typeof WebhookOutcome)[keyof typeof WebhookOutcome];

export interface NewWebhookDelivery {
  provider: string;
  deliveryId: string | null;
  namespace: string;
  buildConfig: string;
  outcome: WebhookOutcome;
  reason?: string | null | undefined;
  message?: string | null | undefined;
  requestId?: string | null | undefined;
  commit?: string | null | undefined;
  ref?: string | null | undefined;
}

export interface WebhookDeliveryRecord {
  id: string;
  provider: string;
  deliveryId: string | null;
  namespace: string;
  buildConfig: string;
  receivedAt: Date;
  outcome: WebhookOutcome;
  reason: string | null;
  message: string | null;
  requestId: string | null;
  commit: string | null;
  ref: string | null;
  publishedAt: Date | null;
  /** `NAME-N` of the build the delivery made, once the scheduler has made it (lists only). */
  build?: string | null;
}

type Row = typeof webhookDeliveries.$inferSelect;
const toRecord = (row: Row): WebhookDeliveryRecord => ({ ...row, outcome: row.outcome as WebhookOutcome });

/**
 * Stores a delivery unless an accepted one with the same provider and delivery id exists
 * (a redelivery): then nothing is written and the first one is returned with `inserted: false`.
 * Rejected deliveries are always inserted (the unique index leaves them out).
 */
export async function recordWebhookDelivery(
  db: DbOrTx,
  delivery: NewWebhookDelivery,
): Promise<{ inserted: boolean; delivery: WebhookDeliveryRecord }> {
  const values = {
    provider: delivery.provider,
    deliveryId: delivery.deliveryId,
    namespace: delivery.namespace,
    buildConfig: delivery.buildConfig,
    outcome: delivery.outcome,
    reason: delivery.reason ?? null,
    message: delivery.message ?? null,
    requestId: delivery.requestId ?? null,
    commit: delivery.commit ?? null,
    ref: delivery.ref ?? null,
  };
  if (delivery.outcome === WebhookOutcome.Rejected || delivery.deliveryId === null) {
    const [row] = await db.insert(webhookDeliveries).values(values).returning();
    return { inserted: true, delivery: toRecord(row!) };
  }
  const [row] = await db
    .insert(webhookDeliveries)
    .values(values)
    .onConflictDoNothing({
      target: [webhookDeliveries.provider, webhookDeliveries.deliveryId],
      where: sql`outcome <> 'rejected'`,
    })
    .returning();
  if (row) return { inserted: true, delivery: toRecord(row) };
  const [first] = await db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.provider, delivery.provider),
        eq(webhookDeliveries.deliveryId, delivery.deliveryId),
        sql`outcome <> 'rejected'`,
      ),
    );
  // The conflicting row can only vanish if someone deleted it in between; report that loudly.
  if (!first) throw new Error(`webhook delivery ${delivery.provider}/${delivery.deliveryId} conflicted but was not found`);
  return { inserted: false, delivery: toRecord(first) };
}

/** Notes that the delivery's `build.requested` reached the stream. */
export async function markWebhookDeliveryPublished(db: DbOrTx, id: string, at: Date = new Date()): Promise<void> {
  await db.update(webhookDeliveries).set({ publishedAt: at }).where(eq(webhookDeliveries.id, id));
}

/** Deliveries of a namespace (or one BuildConfig), newest first, with the build each one made. */
export async function listWebhookDeliveries(
  db: DbOrTx,
  namespace: string,
  filter: { buildConfig?: string | undefined; limit?: number | undefined } = {},
): Promise<WebhookDeliveryRecord[]> {
  const where = filter.buildConfig
    ? and(eq(webhookDeliveries.namespace, namespace), eq(webhookDeliveries.buildConfig, filter.buildConfig))
    : eq(webhookDeliveries.namespace, namespace);
  const rows = await db
    .select({ delivery: webhookDeliveries, build: builds.name })
    .from(webhookDeliveries)
    .leftJoin(builds, eq(builds.requestId, webhookDeliveries.requestId))
    .where(where)
    .orderBy(desc(webhookDeliveries.receivedAt), desc(webhookDeliveries.id))
    .limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
  return rows.map((r) => ({ ...toRecord(r.delivery), build: r.build }));
}

/** The JSON shape of a delivery on the API (`GET …/webhookdeliveries`). */
export function toWebhookDeliveryJson(d: WebhookDeliveryRecord): Record<string, unknown> {
  return {
    id: d.id,
    provider: d.provider,
    deliveryId: d.deliveryId,
    namespace: d.namespace,
    buildConfig: d.buildConfig,
    receivedAt: d.receivedAt.toISOString(),
    outcome: d.outcome,
    reason: d.reason,
    message: d.message,
    requestId: d.requestId,
    commit: d.commit,
    ref: d.ref,
    build: d.build ?? null,
  };
}
