import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { ImageStreamSpec } from "@kiln/domain";
import type { Db, DbOrTx, Tx } from "./client.js";
import { imageStreams, imageStreamTags, registryNotificationEvents } from "./schema.js";

export type ImageStreamTagRow = typeof imageStreamTags.$inferSelect;
export type ImageStreamRow = typeof imageStreams.$inferSelect;

/** Why a tag moved; the same words as ImageChangedV1's `cause.type`. */
export type TagCauseType = "Build" | "RegistryPush" | "Import" | "Tag";

export interface TagUpdate {
  namespace: string;
  imageStream: string;
  tag: string;
  /** `sha256:…` */
  digest: string;
  /** `registry/repo@sha256:…` */
  imageReference: string;
  cause: { type: TagCauseType; build?: string | undefined; message?: string | undefined };
}

export interface TagUpdateResult {
  /** False when the tag already pointed at this digest: no history item was added. */
  changed: boolean;
  item: ImageStreamTagRow;
  previousDigest: string | undefined;
}

/**
 * Points an ImageStream tag at a digest, in one transaction: lock the ImageStream row (creating
 * an empty ImageStream when there is none, as OpenShift's integrated registry does on a push),
 * compare with the tag's newest item, insert a history item when the digest differs.
 *
 * `onChange` runs inside the transaction, after the insert and before the commit: the caller
 * publishes `image.changed` there, so a failed publish rolls the item back and a retry records
 * and publishes again (the event's msg id dedupes a publish whose commit then failed).
 */
export async function recordTagUpdate(
  db: Db,
  update: TagUpdate,
  onChange?: (result: TagUpdateResult, tx: Tx) => Promise<void>,
): Promise<TagUpdateResult> {
  return db.transaction(async (tx) => {
    const stream = await lockImageStream(tx, update.namespace, update.imageStream);
    const current = await currentTag(tx, update.namespace, update.imageStream, update.tag);
    if (current && current.digest === update.digest) {
      // The registry's notification of a build's push may arrive before the build's own
      // Complete: the item then names the build once that comes (no new item, no new event).
      if (
        update.cause.type === "Build" &&
        current.causeType === "RegistryPush" &&
        update.cause.build
      ) {
        const [named] = await tx
          .update(imageStreamTags)
          .set({
            causeType: "Build",
            buildName: update.cause.build,
            causeMessage: update.cause.message ?? current.causeMessage,
          })
          .where(eq(imageStreamTags.id, current.id))
          .returning();
        return { changed: false, item: named!, previousDigest: current.digest };
      }
      return { changed: false, item: current, previousDigest: current.digest };
    }
    const [item] = await tx
      .insert(imageStreamTags)
      .values({
        namespace: update.namespace,
        imageStream: update.imageStream,
        tag: update.tag,
        digest: update.digest,
        imageReference: update.imageReference,
        causeType: update.cause.type,
        buildName: update.cause.build ?? null,
        causeMessage: update.cause.message ?? null,
        generation: stream.resourceVersion,
        // Strictly after the previous item, so "newest first" holds even within one clock tick.
        ...(current
          ? {
              createdAt: sql`greatest(now(), ${current.createdAt.toISOString()}::timestamptz + interval '1 millisecond')`,
            }
          : {}),
      })
      .returning();
    const result = { changed: true, item: item!, previousDigest: current?.digest };
    if (onChange) await onChange(result, tx);
    return result;
  });
}

async function lockImageStream(tx: Tx, namespace: string, name: string): Promise<ImageStreamRow> {
  await tx
    .insert(imageStreams)
    .values({ namespace, name, spec: { tags: [] } satisfies ImageStreamSpec })
    .onConflictDoNothing();
  const [row] = await tx
    .select()
    .from(imageStreams)
    .where(and(eq(imageStreams.namespace, namespace), eq(imageStreams.name, name)))
    .for("update");
  return row!;
}

/** The tag's newest history item (its current image), or null when it has none. */
export async function currentTag(
  db: DbOrTx,
  namespace: string,
  imageStream: string,
  tag: string,
): Promise<ImageStreamTagRow | null> {
  const [row] = await db
    .select()
    .from(imageStreamTags)
    .where(
      and(
        eq(imageStreamTags.namespace, namespace),
        eq(imageStreamTags.imageStream, imageStream),
        eq(imageStreamTags.tag, tag),
      ),
    )
    .orderBy(desc(imageStreamTags.createdAt))
    .limit(1);
  return row ?? null;
}

/** Every history item of a namespace's ImageStreams (or of one), newest first within each tag. */
export async function listTagHistory(
  db: DbOrTx,
  namespace: string,
  imageStream?: string,
): Promise<ImageStreamTagRow[]> {
  return db
    .select()
    .from(imageStreamTags)
    .where(
      and(
        eq(imageStreamTags.namespace, namespace),
        imageStream === undefined ? undefined : eq(imageStreamTags.imageStream, imageStream),
      ),
    )
    .orderBy(
      asc(imageStreamTags.imageStream),
      asc(imageStreamTags.tag),
      desc(imageStreamTags.createdAt),
    );
}

/** Every ImageStream of every namespace: the watcher matches pushes and schedules imports over them. */
export async function listAllImageStreams(db: DbOrTx): Promise<ImageStreamRow[]> {
  return db
    .select()
    .from(imageStreams)
    .orderBy(asc(imageStreams.namespace), asc(imageStreams.name));
}

/** Whether a registry notification event was handled already. */
export async function notificationSeen(
  db: DbOrTx,
  source: string,
  eventId: string,
): Promise<boolean> {
  const [row] = await db
    .select({ eventId: registryNotificationEvents.eventId })
    .from(registryNotificationEvents)
    .where(
      and(
        eq(registryNotificationEvents.source, source),
        eq(registryNotificationEvents.eventId, eventId),
      ),
    );
  return row !== undefined;
}

/** Marks a registry notification event handled; false when it already was. */
export async function markNotificationSeen(
  db: DbOrTx,
  source: string,
  eventId: string,
): Promise<boolean> {
  const inserted = await db
    .insert(registryNotificationEvents)
    .values({ source, eventId })
    .onConflictDoNothing()
    .returning({ eventId: registryNotificationEvents.eventId });
  return inserted.length > 0;
}

/**
 * OpenShift's `status.tags` of an ImageStream from its history items (given newest first per
 * tag): `[{tag, items: [{created, dockerImageReference, image, generation, cause, build}]}]`.
 */
export function statusTags(history: readonly ImageStreamTagRow[]): Record<string, unknown>[] {
  const byTag = new Map<string, Record<string, unknown>[]>();
  for (const row of history) {
    const items = byTag.get(row.tag) ?? [];
    items.push({
      created: row.createdAt.toISOString(),
      dockerImageReference: row.imageReference,
      image: row.digest,
      generation: row.generation,
      cause: row.causeType,
      ...(row.buildName ? { build: row.buildName } : {}),
      ...(row.causeMessage ? { message: row.causeMessage } : {}),
    });
    byTag.set(row.tag, items);
  }
  return [...byTag.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([tag, items]) => ({ tag, items }));
}
