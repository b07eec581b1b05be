import type { CommitStatusReport } from "@kiln/domain";
import { eq, sql } from "drizzle-orm";
import { getBuildById, type StoredBuild } from "./builds.js";
import type { Db, DbOrTx, Tx } from "./client.js";
import { builds } from "./schema.js";

/**
 * Runs `fn` holding a build's commit-status lock (a transaction-scoped advisory lock), with the
 * build as it is now (null when it is gone). Reports of one build are decided, sent and
 * recorded one at a time across every webhook-receiver, so a late or retried `pending` can
 * never land on the host after the build's `success`: whoever comes second sees what the
 * first recorded. No row lock: the scheduler goes on writing the build's phase meanwhile.
 */
export async function withCommitStatusLock<T>(
  db: Db,
  buildId: string,
  fn: (tx: Tx, build: StoredBuild | null) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended(${`commit-status:${buildId}`}, 0))`,
    );
    return fn(tx, await getBuildById(tx, buildId));
  });
}

/**
 * Records what was reported on a build's commit (`status.commitStatus`). Only this column and
 * the resourceVersion are written, so a status the scheduler applies meanwhile is not undone
 * (its compare-and-set sees the bump and reads the build again).
 */
export async function recordCommitStatus(
  db: DbOrTx,
  buildId: string,
  report: CommitStatusReport,
): Promise<void> {
  await db
    .update(builds)
    .set({ commitStatus: report, resourceVersion: sql`${builds.resourceVersion} + 1` })
    .where(eq(builds.id, buildId));
}
