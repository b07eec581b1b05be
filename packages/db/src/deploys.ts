import { and, desc, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { DeployPhase, DeployReason } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { deploys, imageStreamTags } from "./schema.js";

type Row = typeof deploys.$inferSelect;

/** A deploy as stored; `status` and `reason` typed. */
export type DeployRecord = Omit<Row, "status" | "reason"> & {
  status: DeployPhase;
  reason: DeployReason | null;
};

export interface NewDeploy {
  /** Natural key: the same target, tag and digest make one deploy however often the change is delivered. */
  key: string;
  namespace: string;
  targetKind: string;
  targetNamespace?: string | null;
  targetName?: string | null;
  targetContainers?: string[];
  targetUrl?: string | null;
  imageStreamTag?: string | null;
  digest?: string | null;
  imageReference?: string | null;
  causeType: string;
  causeBuild?: string | null;
  causeMessage?: string | null;
  status: DeployPhase;
  reason?: DeployReason | null;
  message?: string | null;
}

/** What a status change may set besides the status. */
export interface DeployUpdate {
  status: DeployPhase;
  reason?: DeployReason | null;
  message?: string | null;
  attempts?: number;
  previousImage?: string | null;
  targetContainers?: string[];
  generation?: number | null;
  startedAt?: Date;
  completedAt?: Date;
}

const terminal: DeployPhase[] = ["Complete", "Failed", "Skipped", "Cancelled"];
const toRecord = (row: Row): DeployRecord => row as DeployRecord;

/**
 * Records a deploy unless one with the same key exists: then nothing is written and that one is
 * returned with `created: false` (a redelivered image change continues the deploy it began).
 */
export async function beginDeploy(
  db: DbOrTx,
  deploy: NewDeploy,
): Promise<{ created: boolean; deploy: DeployRecord }> {
  const [inserted] = await db
    .insert(deploys)
    .values({
      key: deploy.key,
      namespace: deploy.namespace,
      targetKind: deploy.targetKind,
      targetNamespace: deploy.targetNamespace ?? null,
      targetName: deploy.targetName ?? null,
      targetContainers: deploy.targetContainers ?? [],
      targetUrl: deploy.targetUrl ?? null,
      imageStreamTag: deploy.imageStreamTag ?? null,
      digest: deploy.digest ?? null,
      imageReference: deploy.imageReference ?? null,
      causeType: deploy.causeType,
      causeBuild: deploy.causeBuild ?? null,
      causeMessage: deploy.causeMessage ?? null,
      status: deploy.status,
      reason: deploy.reason ?? null,
      message: deploy.message ?? null,
      ...(terminal.includes(deploy.status) ? { completedAt: sql`now()` } : {}),
    })
    .onConflictDoNothing({ target: deploys.key })
    .returning();
  if (inserted) return { created: true, deploy: toRecord(inserted) };
  const [existing] = await db.select().from(deploys).where(eq(deploys.key, deploy.key));
  // The row can only vanish if someone deleted it in between; say so loudly.
  if (!existing) throw new Error(`deploy ${deploy.key} conflicted but was not found`);
  return { created: false, deploy: toRecord(existing) };
}

/**
 * Moves a deploy to a new status. A deploy that already ended is never changed again: null then
 * (a late rollout event or a doubled delivery changes nothing).
 */
export async function updateDeploy(
  db: DbOrTx,
  id: string,
  update: DeployUpdate,
): Promise<DeployRecord | null> {
  const [row] = await db
    .update(deploys)
    .set({
      status: update.status,
      ...(update.reason !== undefined ? { reason: update.reason } : {}),
      ...(update.message !== undefined ? { message: update.message } : {}),
      ...(update.attempts !== undefined ? { attempts: update.attempts } : {}),
      ...(update.previousImage !== undefined ? { previousImage: update.previousImage } : {}),
      ...(update.targetContainers !== undefined
        ? { targetContainers: update.targetContainers }
        : {}),
      ...(update.generation !== undefined ? { generation: update.generation } : {}),
      ...(update.startedAt !== undefined ? { startedAt: update.startedAt } : {}),
      ...(terminal.includes(update.status)
        ? { completedAt: update.completedAt ?? sql`now()` }
        : {}),
      updatedAt: sql`now()`,
    })
    .where(and(eq(deploys.id, id), notInArray(deploys.status, terminal)))
    .returning();
  return row ? toRecord(row) : null;
}

export async function getDeploy(db: DbOrTx, id: string): Promise<DeployRecord | null> {
  const [row] = await db.select().from(deploys).where(eq(deploys.id, id));
  return row ? toRecord(row) : null;
}

/** Deploys newest first, of the given namespaces (every namespace when undefined). */
export async function listDeploys(
  db: DbOrTx,
  namespaces: readonly string[] | undefined,
  filter: {
    imageStreamTag?: string | undefined;
    status?: DeployPhase | undefined;
    limit?: number | undefined;
  } = {},
): Promise<DeployRecord[]> {
  if (namespaces?.length === 0) return [];
  const rows = await db
    .select()
    .from(deploys)
    .where(
      and(
        namespaces === undefined ? undefined : inArray(deploys.namespace, [...namespaces]),
        filter.imageStreamTag === undefined
          ? undefined
          : eq(deploys.imageStreamTag, filter.imageStreamTag),
        filter.status === undefined ? undefined : eq(deploys.status, filter.status),
      ),
    )
    .orderBy(desc(deploys.createdAt), desc(deploys.id))
    .limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
  return rows.map(toRecord);
}

/** Deploys in the given statuses, oldest first (the deployer resumes `Rolling` ones when it starts). */
export async function listDeploysByStatus(
  db: DbOrTx,
  statuses: readonly DeployPhase[],
): Promise<DeployRecord[]> {
  const rows = await db
    .select()
    .from(deploys)
    .where(inArray(deploys.status, [...statuses]))
    .orderBy(deploys.createdAt);
  return rows.map(toRecord);
}

/**
 * Whether a newer image than the history item `itemId` is recorded for its tag: a change
 * delivered late (after a newer one) must not roll a workload back. An item not found yet is the
 * newest: it is inserted under the ImageStream's row lock, in the transaction that publishes it.
 */
export async function isTagItemSuperseded(db: DbOrTx, itemId: string): Promise<boolean> {
  const rows = await db.execute<{ superseded: boolean }>(sql`
    select exists (
      select 1 from ${imageStreamTags} newer, ${imageStreamTags} item
      where item.id = ${itemId}
        and newer.namespace = item.namespace and newer.image_stream = item.image_stream and newer.tag = item.tag
        and newer.created_at > item.created_at and newer.digest <> item.digest
    ) as superseded`);
  return rows.rows[0]?.superseded === true;
}

/** The JSON shape of a deploy on the API (`GET /apis/v1/namespaces/NS/deploys`). */
export function toDeployJson(d: DeployRecord): Record<string, unknown> {
  const target =
    d.targetKind === "HTTP"
      ? { type: "HTTP", url: d.targetUrl }
      : {
          type: "Kubernetes",
          kind: d.targetKind,
          namespace: d.targetNamespace,
          name: d.targetName,
          containers: d.targetContainers,
        };
  return {
    apiVersion: "kiln.dev/v1",
    kind: "Deploy",
    metadata: {
      name: d.id,
      namespace: d.namespace,
      uid: d.id,
      creationTimestamp: d.createdAt.toISOString(),
    },
    spec: {
      target,
      ...(d.imageStreamTag ? { imageStreamTag: d.imageStreamTag } : {}),
      ...(d.digest ? { digest: d.digest } : {}),
      ...(d.imageReference ? { imageReference: d.imageReference } : {}),
      cause: {
        type: d.causeType,
        ...(d.causeBuild ? { build: d.causeBuild } : {}),
        ...(d.causeMessage ? { message: d.causeMessage } : {}),
      },
    },
    status: {
      phase: d.status,
      ...(d.reason ? { reason: d.reason } : {}),
      ...(d.message ? { message: d.message } : {}),
      ...(d.previousImage ? { previousImage: d.previousImage } : {}),
      attempts: d.attempts,
      ...(d.startedAt ? { startTimestamp: d.startedAt.toISOString() } : {}),
      ...(d.completedAt ? { completionTimestamp: d.completedAt.toISOString() } : {}),
    },
  };
}
