import { and, desc, eq, inArray, sql } from "drizzle-orm";
import {
  canTransition,
  isTerminalPhase,
  kilnApiVersion,
  NotFoundError,
  type BuildConfigSpec,
  type BuildOutputStatus,
  type BuildPhase,
  type BuildRecord,
  type BuildRevision,
  type CommitStatusReport,
  type FailureReason,
  type PlannedBuild,
} from "@kiln/domain";
import type { Db, DbOrTx, Tx } from "./client.js";
import { buildConfigs, builds } from "./schema.js";

type BuildRow = typeof builds.$inferSelect;

/** A BuildConfig's row as read under its lock ({@link lockBuildConfig}). */
export type LockedBuildConfig = typeof buildConfigs.$inferSelect;

/**
 * Reads a BuildConfig's row and holds its lock to the end of the transaction: requests for
 * builds of it serialise here, so the number planned from `lastVersion` is never given twice.
 */
export async function lockBuildConfig(
  tx: Tx,
  namespace: string,
  name: string,
): Promise<LockedBuildConfig> {
  const [bc] = await tx
    .select()
    .from(buildConfigs)
    .where(and(eq(buildConfigs.namespace, namespace), eq(buildConfigs.name, name)))
    .for("update");
  if (!bc) throw new NotFoundError("BuildConfig", namespace, name);
  return bc;
}

/** The BuildConfig's build with the highest number, or null. */
export async function latestBuildOf(
  db: DbOrTx,
  namespace: string,
  buildConfig: string,
): Promise<BuildRecord | null> {
  const [latest] = await db
    .select()
    .from(builds)
    .where(and(eq(builds.namespace, namespace), eq(builds.buildConfig, buildConfig)))
    .orderBy(desc(builds.number))
    .limit(1);
  return latest ? toRecord(latest) : null;
}

/**
 * Stores a planned build (`planNextBuild`) and its number as the BuildConfig's `lastVersion`;
 * the caller holds the BuildConfig's row lock.
 */
export async function insertBuild(
  tx: Tx,
  bc: LockedBuildConfig,
  build: PlannedBuild & { requestId: string },
  /** More of the BuildConfig row to change with the number, in the same statement. */
  alsoSet: { imageTriggers?: Record<string, string> } = {},
): Promise<BuildRecord> {
  await tx
    .update(buildConfigs)
    .set({ lastVersion: build.number, ...alsoSet })
    .where(eq(buildConfigs.uid, bc.uid));
  const [row] = await tx
    .insert(builds)
    .values({
      namespace: bc.namespace,
      name: build.name,
      buildConfig: bc.name,
      number: build.number,
      phase: "New",
      requestId: build.requestId,
      spec: build.spec,
    })
    .returning();
  return toRecord(row!);
}

export async function findBuildByRequestId(
  db: DbOrTx,
  requestId: string,
): Promise<BuildRecord | null> {
  const [row] = await db.select().from(builds).where(eq(builds.requestId, requestId));
  return row ? toRecord(row) : null;
}

export async function getBuild(
  db: DbOrTx,
  namespace: string,
  name: string,
): Promise<BuildRecord | null> {
  const [row] = await db
    .select()
    .from(builds)
    .where(and(eq(builds.namespace, namespace), eq(builds.name, name)));
  return row ? toRecord(row) : null;
}

export async function getBuildById(db: DbOrTx, id: string): Promise<StoredBuild | null> {
  const [row] = await db.select().from(builds).where(eq(builds.id, id));
  return row ? toRecord(row) : null;
}

/** Builds of a namespace (or one BuildConfig), newest first. */
export async function listBuilds(
  db: DbOrTx,
  namespace: string,
  filter: { buildConfig?: string | undefined } = {},
): Promise<BuildRecord[]> {
  const where = filter.buildConfig
    ? and(eq(builds.namespace, namespace), eq(builds.buildConfig, filter.buildConfig))
    : eq(builds.namespace, namespace);
  const rows = await db
    .select()
    .from(builds)
    .where(where)
    .orderBy(desc(builds.createdAt), desc(builds.number));
  return rows.map(toRecord);
}

export interface BuildStatusUpdate {
  buildId: string;
  phase: BuildPhase;
  attempt: number;
  at: Date;
  reason?: FailureReason | undefined;
  message?: string | undefined;
  output?: BuildOutputStatus | undefined;
  logSnippet?: string | undefined;
  revision?: BuildRevision | undefined;
}

/**
 * Applies a status event if the state machine allows it; returns whether anything changed.
 * Idempotent: the same event twice, or a stale one after the build ended, changes nothing.
 */
export async function applyBuildStatus(
  db: DbOrTx,
  update: BuildStatusUpdate,
): Promise<{ applied: boolean; build: BuildRecord | null }> {
  // Compare-and-set on resourceVersion (bumped by every write) rather than a row lock in a
  // transaction: two statements instead of four, and no savepoint when called inside one.
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const [row] = await db.select().from(builds).where(eq(builds.id, update.buildId));
    if (!row) return { applied: false, build: null };
    const current = { phase: row.phase as BuildPhase, attempt: row.attempt };
    if (!canTransition(current, update)) return { applied: false, build: toRecord(row) };
    const terminal = isTerminalPhase(update.phase);
    const [next] = await db
      .update(builds)
      .set({
        phase: update.phase,
        attempt: Math.max(row.attempt, update.attempt),
        reason: update.reason ?? null,
        message: update.message ?? null,
        output: update.output ?? row.output,
        logSnippet: update.logSnippet ?? row.logSnippet,
        revision: update.revision ?? row.revision,
        startedAt: update.phase === "Running" ? (row.startedAt ?? update.at) : row.startedAt,
        completedAt: terminal ? update.at : null,
        resourceVersion: sql`${builds.resourceVersion} + 1`,
      })
      .where(and(eq(builds.id, update.buildId), eq(builds.resourceVersion, row.resourceVersion)))
      .returning();
    if (next) return { applied: true, build: toRecord(next) };
    // Someone wrote the build between the read and the write: read it again and decide anew.
  }
  throw new Error(
    `build ${update.buildId} kept changing while its status ${update.phase} was applied`,
  );
}

/**
 * `New` → `Pending` once the build is dispatched: one statement, for the caller that already
 * holds the BuildConfig's queue lock (`withBuildQueue`), where nothing else can move the build.
 */
export async function markBuildPending(db: DbOrTx, buildId: string): Promise<boolean> {
  const rows = await db
    .update(builds)
    .set({ phase: "Pending", resourceVersion: sql`${builds.resourceVersion} + 1` })
    .where(and(eq(builds.id, buildId), eq(builds.phase, "New")))
    .returning({ id: builds.id });
  return rows.length > 0;
}

/** A build as stored: with what was last reported on its commit (`status.commitStatus`). */
export type StoredBuild = BuildRecord & { commitStatus: CommitStatusReport | null };

function toRecord(row: BuildRow): StoredBuild {
  return {
    id: row.id,
    namespace: row.namespace,
    name: row.name,
    buildConfig: row.buildConfig,
    number: row.number,
    phase: row.phase as BuildPhase,
    reason: row.reason as FailureReason | null,
    message: row.message,
    // The recorded revision completes what the request asked for (a ref becomes a commit).
    spec: row.revision
      ? { ...row.spec, revision: { ...row.spec.revision, ...row.revision } }
      : row.spec,
    output: row.output,
    logSnippet: row.logSnippet,
    resourceVersion: row.resourceVersion,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    commitStatus: row.commitStatus,
  };
}

/** A build in the wire shape of docs/api.md. */
export function toBuildJson(
  build: BuildRecord & { commitStatus?: CommitStatusReport | null },
): Record<string, unknown> {
  const end = build.completedAt ?? null;
  return {
    apiVersion: kilnApiVersion,
    kind: "Build",
    metadata: {
      name: build.name,
      namespace: build.namespace,
      uid: build.id,
      resourceVersion: String(build.resourceVersion),
      creationTimestamp: build.createdAt.toISOString(),
      labels: { "kiln.dev/buildconfig": build.buildConfig },
    },
    spec: build.spec,
    status: {
      phase: build.phase,
      ...(build.reason ? { reason: build.reason } : {}),
      ...(build.message ? { message: build.message } : {}),
      ...(build.logSnippet ? { logSnippet: build.logSnippet } : {}),
      ...(build.startedAt ? { startTimestamp: build.startedAt.toISOString() } : {}),
      ...(end ? { completionTimestamp: end.toISOString() } : {}),
      ...(build.startedAt && end ? { durationMs: end.getTime() - build.startedAt.getTime() } : {}),
      ...(build.output ? { output: build.output } : {}),
      ...(build.commitStatus ? { commitStatus: build.commitStatus } : {}),
    },
  };
}

/**
 * Runs `fn` holding the BuildConfig's row lock, with its run policy and its unfinished builds
 * (oldest first). Deciding what to dispatch under that lock means two schedulers, or two
 * events at once, can never both start "the next" build of a Serial BuildConfig.
 */
export async function withBuildQueue<T>(
  db: Db,
  namespace: string,
  buildConfig: string,
  fn: (tx: Tx, queue: BuildQueue) => Promise<T>,
): Promise<T | null> {
  return db.transaction(async (tx) => {
    const [bc] = await tx
      .select({ spec: buildConfigs.spec })
      .from(buildConfigs)
      .where(and(eq(buildConfigs.namespace, namespace), eq(buildConfigs.name, buildConfig)))
      .for("update");
    if (!bc) return null;
    return fn(tx, await unfinishedBuilds(tx, namespace, buildConfig, bc.spec));
  });
}

/** A BuildConfig's unfinished builds in number order, with the spec that says how they run. */
export interface BuildQueue {
  spec: BuildConfigSpec;
  builds: BuildRecord[];
}

async function unfinishedBuilds(
  tx: Tx,
  namespace: string,
  buildConfig: string,
  spec: BuildConfigSpec,
): Promise<BuildQueue> {
  const rows = await tx
    .select()
    .from(builds)
    .where(
      and(
        eq(builds.namespace, namespace),
        eq(builds.buildConfig, buildConfig),
        inArray(builds.phase, ["New", "Pending", "Running"]),
      ),
    )
    .orderBy(builds.number);
  return { spec, builds: rows.map(toRecord) };
}

/**
 * Deletes a BuildConfig's oldest finished builds beyond its history limits, as OpenShift does:
 * `successfulBuildsHistoryLimit` counts Complete builds, `failedBuildsHistoryLimit` counts
 * Failed, Error and Cancelled ones. Returns the names of the builds removed.
 */
export async function pruneBuildHistory(
  db: DbOrTx,
  namespace: string,
  buildConfig: string,
): Promise<string[]> {
  // One statement (a build ending is frequent, a cascade ends hundreds at once): rank the ended
  // builds newest first within Complete and within the failed phases, delete past the limits.
  const deleted = await db.execute<{ name: string }>(sql`
    delete from builds where id in (
      select ranked.id from (
        select id, phase, row_number() over (partition by phase = 'Complete' order by number desc) as rank
        from builds
        where namespace = ${namespace} and build_config = ${buildConfig} and phase in ('Complete', 'Failed', 'Error', 'Cancelled')
      ) ranked
      join build_configs c on c.namespace = ${namespace} and c.name = ${buildConfig}
      where ranked.rank > case when ranked.phase = 'Complete'
        then (c.spec->>'successfulBuildsHistoryLimit')::int
        else (c.spec->>'failedBuildsHistoryLimit')::int end
    )
    returning name`);
  return deleted.rows.map((r) => r.name);
}
