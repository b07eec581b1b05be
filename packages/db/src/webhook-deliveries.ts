import { randomUUID } from "node:crypto";
import { and, desc, eq, sql } from "drizzle-orm";
import type { DbOrTx } from "./client.js";
import { builds, webhookDeliveries, webhookRefusalCounts } from "./schema.js";

/** What became of a webhook delivery; the values are stored in `webhook_deliveries.outcome`. */
export const WebhookOutcome = {
  BuildRequested: "build-requested",
  Skipped: "skipped",
  Rejected: "rejected",
} as const;
export type WebhookOutcome = (typeof WebhookOutcome)[keyof typeof WebhookOutcome];

/** Why a refused request was counted instead of stored; stored in `webhook_refusal_counts.reason`. */
export const WebhookRefusalReason = {
  /** No BuildConfig of that namespace and name (so no secret it could have proved). */
  UnknownBuildConfig: "UnknownBuildConfig",
} as const;
export type WebhookRefusalReason = (typeof WebhookRefusalReason)[keyof typeof WebhookRefusalReason];

/** A refused request that is counted, not stored. */
export interface WebhookRefusal {
  reason: WebhookRefusalReason;
  /** The webhook type of the URL: one of a known few, never free text from the sender. */
  provider: string;
}

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
 * first, as it would in two statements. `refusals` are added to this hour's counters in the
 * same statement: a refusal that is only counted thus costs its sender the same round trip and
 * commit as one that is stored, so the time of a 401 does not tell which it was.
 */
export async function recordWebhookDeliveries(
  db: DbOrTx,
  deliveries: readonly NewWebhookDelivery[],
  refusals: readonly WebhookRefusal[] = [],
): Promise<{ inserted: boolean; delivery: WebhookDeliveryRecord }[]> {
  if (deliveries.length === 0 && refusals.length === 0) return [];
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
  // A data-modifying WITH runs to completion whether or not the main statement reads it. The
  // GROUP BY folds a batch's refusals into one row per counter, which ON CONFLICT DO UPDATE needs.
  const inserted = await db.execute<SqlRow>(sql`
    with counted as (
      insert into webhook_refusal_counts (hour, reason, provider, count)
      select date_trunc('hour', now() at time zone 'UTC') at time zone 'UTC', reason, provider, count(*)
      from unnest(${sql.param(refusals.map((r) => r.reason))}::text[], ${sql.param(refusals.map((r) => r.provider))}::text[]) as r(reason, provider)
      group by reason, provider
      on conflict (hour, reason, provider) do update set count = webhook_refusal_counts.count + excluded.count
    )
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

// Ages are measured against the database's clock, the one `received_at` was stamped with, so a
// service host whose clock is off deletes neither too early nor too late.
const ago = (ms: number) => sql`now() - ${ms}::float8 * interval '1 millisecond'`;

/**
 * Deletes up to `limit` deliveries received more than `ageMs` ago, oldest first, and says how
 * many. A batch is its own short statement, and rows another sweeper holds are skipped, not
 * waited for.
 */
export async function deleteWebhookDeliveriesOlderThan(
  db: DbOrTx,
  ageMs: number,
  limit: number,
): Promise<number> {
  const deleted = await db.execute(sql`
    delete from webhook_deliveries where id in (
      select id from webhook_deliveries where received_at < ${ago(ageMs)}
      order by received_at limit ${limit} for update skip locked
    )`);
  return deleted.rowCount ?? 0;
}

/**
 * The BuildConfigs (namespace and name) with more than `keep` rejected deliveries, of those
 * with one received in the last `withinMs` (null: of all). Only a BuildConfig that just got a
 * rejected delivery can have gone over, so the periodic sweep reads a minute of the table, not
 * all of it; and none of the BuildConfigs under the cap comes back to be trimmed one by one.
 */
export async function buildConfigsOverRejectedCap(
  db: DbOrTx,
  keep: number,
  withinMs: number | null,
): Promise<{ namespace: string; buildConfig: string }[]> {
  const recent =
    withinMs === null
      ? sql``
      : sql`and (namespace, build_config) in (
          select namespace, build_config from webhook_deliveries
          where outcome = 'rejected' and received_at >= ${ago(withinMs)})`;
  const result = await db.execute<{ namespace: string; build_config: string }>(sql`
    select namespace, build_config from webhook_deliveries
    where outcome = 'rejected' ${recent}
    group by namespace, build_config having count(*) > ${keep}`);
  return result.rows.map((r) => ({ namespace: r.namespace, buildConfig: r.build_config }));
}

/**
 * Deletes up to `limit` of a BuildConfig's rejected deliveries beyond its newest `keep`, and
 * says how many. Accepted ones are never trimmed: only a sender holding the secret
 * makes them, and they carry the delivery ids that redeliveries are recognised by.
 */
export async function trimRejectedWebhookDeliveries(
  db: DbOrTx,
  target: { namespace: string; buildConfig: string },
  keep: number,
  limit: number,
): Promise<number> {
  const deleted = await db.execute(sql`
    delete from webhook_deliveries where id in (
      select id from webhook_deliveries
      where namespace = ${target.namespace} and build_config = ${target.buildConfig} and outcome = 'rejected'
      order by received_at desc, id desc offset ${keep} limit ${limit}
    )`);
  return deleted.rowCount ?? 0;
}

/** Deletes the refusal counters of the hours that ended more than `ageMs` ago. */
export async function deleteWebhookRefusalCountsOlderThan(
  db: DbOrTx,
  ageMs: number,
): Promise<number> {
  const deleted = await db
    .delete(webhookRefusalCounts)
    .where(sql`${webhookRefusalCounts.hour} + interval '1 hour' < ${ago(ageMs)}`);
  return deleted.rowCount ?? 0;
}

/** A refusal counter: how many requests of one hour were refused for one reason and provider. */
export interface WebhookRefusalCount {
  hour: Date;
  reason: string;
  provider: string;
  count: number;
}

/** Refusal counters, newest hour first (at most `limit`, default 100, at most 1000). */
export async function listWebhookRefusalCounts(
  db: DbOrTx,
  filter: { limit?: number | undefined } = {},
): Promise<WebhookRefusalCount[]> {
  return db
    .select()
    .from(webhookRefusalCounts)
    .orderBy(
      desc(webhookRefusalCounts.hour),
      webhookRefusalCounts.reason,
      webhookRefusalCounts.provider,
    )
    .limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
}

/** The JSON shape of a refusal counter on the API (`GET /apis/v1/webhookrefusals`). */
export function toWebhookRefusalCountJson(c: WebhookRefusalCount): Record<string, unknown> {
  return { hour: c.hour.toISOString(), reason: c.reason, provider: c.provider, count: c.count };
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
