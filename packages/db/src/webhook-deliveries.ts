import { randomUUID } from "node:crypto";
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
const toRecord = (row: Row): WebhookDeliveryRecord => ({
  ...row,
  outcome: row.outcome as WebhookOutcome,
});

/**
 * Stores a delivery unless an accepted one with the same provider and delivery id exists
 * (a redelivery): then nothing is written and the first one is returned with `inserted: false`.
 * Rejected deliveries are always inserted (the unique index leaves them out).
 */
export async function recordWebhookDelivery(
  db: DbOrTx,
  delivery: NewWebhookDelivery,
): Promise<{ inserted: boolean; delivery: WebhookDeliveryRecord }> {
  const [result] = await recordWebhookDeliveries(db, [delivery]);
  return result!;
}

/**
 * `recordWebhookDelivery` for many deliveries in one statement (one round trip, one commit),
 * answered in the order given. A delivery id twice in the batch counts as a redelivery of the
 * first, as it would in two statements.
 */
export async function recordWebhookDeliveries(
  db: DbOrTx,
  deliveries: readonly NewWebhookDelivery[],
): Promise<{ inserted: boolean; delivery: WebhookDeliveryRecord }[]> {
  if (deliveries.length === 0) return [];
  // Ids are chosen here, so each answer finds its row among those RETURNING gives back.
  const values = deliveries.map((delivery) => ({
    id: randomUUID(),
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
  }));
  // One statement whose text does not grow with the batch: the columns go as eleven arrays
  // through unnest. Building a multi-row VALUES with the query builder cost more CPU than
  // Postgres spent on the insert.
  const column = <K extends keyof (typeof values)[number]>(key: K) =>
    sql.param(values.map((v) => v[key]));
  const inserted = await db.execute<SqlRow>(sql`
    insert into webhook_deliveries (id, provider, delivery_id, namespace, build_config, outcome, reason, message, request_id, commit, ref)
    select * from unnest(
      ${column("id")}::uuid[], ${column("provider")}::text[], ${column("deliveryId")}::text[], ${column("namespace")}::text[],
      ${column("buildConfig")}::text[], ${column("outcome")}::text[], ${column("reason")}::text[], ${column("message")}::text[],
      ${column("requestId")}::text[], ${column("commit")}::text[], ${column("ref")}::text[]
    )
    on conflict (provider, delivery_id) where outcome <> 'rejected' do nothing
    returning *`);
  const rows = inserted.rows.map(fromSqlRow);
  const insertedById = new Map(rows.map((row) => [row.id, row]));
  const missing = values.filter((v) => !insertedById.has(v.id));
  const firstByKey = new Map<string, Row>();
  for (const row of rows)
    if (row.deliveryId !== null && row.outcome !== WebhookOutcome.Rejected)
      firstByKey.set(deliveryKey(row), row);
  if (missing.length > 0) {
    const existing = await db
      .select()
      .from(webhookDeliveries)
      .where(
        and(
          sql`(${webhookDeliveries.provider}, ${webhookDeliveries.deliveryId}) in (${sql.join(
            missing.map((v) => sql`(${v.provider}, ${v.deliveryId})`),
            sql`, `,
          )})`,
          sql`outcome <> 'rejected'`,
        ),
      );
    for (const row of existing)
      if (!firstByKey.has(deliveryKey(row))) firstByKey.set(deliveryKey(row), row);
  }
  return values.map((v) => {
    const row = insertedById.get(v.id);
    if (row) return { inserted: true, delivery: toRecord(row) };
    const first = firstByKey.get(deliveryKey(v));
    // The conflicting row can only vanish if someone deleted it in between; report that loudly.
    if (!first)
      throw new Error(
        `webhook delivery ${v.provider}/${v.deliveryId} conflicted but was not found`,
      );
    return { inserted: false, delivery: toRecord(first) };
  });
}

type SqlRow = {
  id: string;
  provider: string;
  delivery_id: string | null;
  namespace: string;
  build_config: string;
  received_at: Date;
  outcome: string;
  reason: string | null;
  message: string | null;
  request_id: string | null;
  commit: string | null;
  ref: string | null;
  published_at: Date | null;
};
const fromSqlRow = (r: SqlRow): Row => ({
  id: r.id,
  provider: r.provider,
  deliveryId: r.delivery_id,
  namespace: r.namespace,
  buildConfig: r.build_config,
  receivedAt: r.received_at,
  outcome: r.outcome,
  reason: r.reason,
  message: r.message,
  requestId: r.request_id,
  commit: r.commit,
  ref: r.ref,
  publishedAt: r.published_at,
});

const deliveryKey = (d: { provider: string; deliveryId: string | null }) =>
  `${d.provider}\u0000${d.deliveryId}`;

/** Notes that the delivery's `build.requested` reached the stream. */
export async function markWebhookDeliveryPublished(
  db: DbOrTx,
  id: string,
  at: Date = new Date(),
): Promise<void> {
  await db.update(webhookDeliveries).set({ publishedAt: at }).where(eq(webhookDeliveries.id, id));
}

/** Deliveries of a namespace (or one BuildConfig), newest first, with the build each one made. */
export async function listWebhookDeliveries(
  db: DbOrTx,
  namespace: string,
  filter: { buildConfig?: string | undefined; limit?: number | undefined } = {},
): Promise<WebhookDeliveryRecord[]> {
  const where = filter.buildConfig
    ? and(
        eq(webhookDeliveries.namespace, namespace),
        eq(webhookDeliveries.buildConfig, filter.buildConfig),
      )
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
