import { and, asc, eq, sql } from "drizzle-orm";
import {
  assertNever,
  ConflictError,
  kilnApiVersion,
  NotFoundError,
  type Resource,
  type ResourceKind,
  type SecretSpec,
} from "@kiln/domain";
import type { Db, DbOrTx } from "./client.js";
import { statusTags, type ImageStreamTagRow } from "./image-stream-tags.js";
import { sameJson } from "./json.js";
import type { SecretBox } from "./secret-box.js";
import { openSpec, redactBuildConfigSpec, redactSecretSpec, sealSpec } from "./sealed-specs.js";
import {
  builderTemplates,
  buildConfigs,
  builds,
  imageStreamGrants,
  imageStreams,
  imageStreamTags,
  secrets,
} from "./schema.js";

export type ApplyAction = "created" | "configured" | "unchanged";
export interface ApplyResult {
  kind: ResourceKind;
  namespace: string;
  name: string;
  resourceVersion: string;
  action: ApplyAction;
  uid: string;
}

const tables = {
  BuildConfig: buildConfigs,
  ImageStream: imageStreams,
  Secret: secrets,
  ImageStreamGrant: imageStreamGrants,
  BuilderTemplate: builderTemplates,
} as const;

type Row =
  | typeof buildConfigs.$inferSelect
  | typeof imageStreams.$inferSelect
  | typeof secrets.$inferSelect
  | typeof imageStreamGrants.$inferSelect
  | typeof builderTemplates.$inferSelect;

/**
 * Creates or updates every resource in one transaction: either all are stored or none.
 * A document that carries `metadata.resourceVersion` must match the stored one (409 otherwise),
 * as with `kubectl replace`; without it the last write wins, as with `kubectl apply`.
 */
export async function applyResources(
  db: Db,
  resources: readonly Resource[],
  box: SecretBox,
): Promise<ApplyResult[]> {
  return db.transaction(async (tx) => {
    const results: ApplyResult[] = [];
    for (const resource of resources) results.push(await applyOne(tx, resource, box));
    return results;
  });
}

async function applyOne(tx: DbOrTx, resource: Resource, box: SecretBox): Promise<ApplyResult> {
  const table = tables[resource.kind];
  const { namespace, name, labels, annotations, resourceVersion } = resource.metadata;
  const meta = { ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) };
  const [existing] = await tx
    .select()
    .from(table)
    .where(and(eq(table.namespace, namespace), eq(table.name, name)))
    .for("update");
  const result = (rv: number, action: ApplyAction, uid: string): ApplyResult => ({
    kind: resource.kind,
    namespace,
    name,
    resourceVersion: String(rv),
    action,
    uid,
  });
  if (!existing) {
    if (resourceVersion !== undefined) {
      throw new ConflictError(
        `${resource.kind} ${namespace}/${name} does not exist, but metadata.resourceVersion ${resourceVersion} was given`,
      );
    }
    // `spec` is typed per table; the kind decides which, checked by the Resource union.
    const [created] = await tx
      .insert(table)
      .values({ namespace, name, meta, spec: sealSpec(resource.kind, resource.spec, box) as never })
      .returning({ uid: table.uid });
    return result(1, "created", created!.uid);
  }
  if (resourceVersion !== undefined && resourceVersion !== String(existing.resourceVersion)) {
    throw new ConflictError(
      `${resource.kind} ${namespace}/${name} was changed since it was read (resourceVersion ${resourceVersion}, now ${existing.resourceVersion}); get it again and re-apply`,
    );
  }
  // Sealing takes a fresh nonce each time: compare what the secrets say, not how they are stored.
  const stored = openSpec(resource.kind, existing.spec, box);
  if (sameJson(stored, resource.spec) && sameJson(existing.meta, meta)) {
    return result(existing.resourceVersion, "unchanged", existing.uid);
  }
  const next = existing.resourceVersion + 1;
  await tx
    .update(table)
    .set({
      meta,
      spec: sealSpec(resource.kind, resource.spec, box) as never,
      resourceVersion: next,
      updatedAt: sql`now()`,
    })
    .where(eq(table.uid, existing.uid));
  return result(next, "configured", existing.uid);
}

/** The stored resource in its wire shape, or null. */
export async function getResource(
  db: DbOrTx,
  kind: ResourceKind,
  namespace: string,
  name: string,
): Promise<Row | null> {
  const table = tables[kind];
  const [row] = await db
    .select()
    .from(table)
    .where(and(eq(table.namespace, namespace), eq(table.name, name)));
  return row ?? null;
}

export async function listResources(
  db: DbOrTx,
  kind: ResourceKind,
  namespace: string,
): Promise<Row[]> {
  const table = tables[kind];
  return db.select().from(table).where(eq(table.namespace, namespace)).orderBy(asc(table.name));
}

/** Deletes a resource; deleting a BuildConfig deletes its builds, as OpenShift does. */
export async function deleteResource(
  db: Db,
  kind: ResourceKind,
  namespace: string,
  name: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    const table = tables[kind];
    const deleted = await tx
      .delete(table)
      .where(and(eq(table.namespace, namespace), eq(table.name, name)))
      .returning({ uid: table.uid });
    if (deleted.length === 0) throw new NotFoundError(kind, namespace, name);
    if (kind === "BuildConfig") {
      await tx
        .delete(builds)
        .where(and(eq(builds.namespace, namespace), eq(builds.buildConfig, name)));
    }
    if (kind === "ImageStream") {
      await tx
        .delete(imageStreamTags)
        .where(
          and(eq(imageStreamTags.namespace, namespace), eq(imageStreamTags.imageStream, name)),
        );
    }
  });
}

export interface ResourceJsonOptions {
  /** Registry address used to show where an ImageStream's images live. */
  registry: string;
  /** An ImageStream's tag history (newest first per tag), shown as `status.tags`. */
  tagHistory?: readonly ImageStreamTagRow[];
}

/** A stored row in the Kubernetes-shaped wire form `kiln get -o yaml` prints. */
export function toResourceJson(
  kind: ResourceKind,
  row: Row,
  options: ResourceJsonOptions,
): Record<string, unknown> {
  const metadata = {
    name: row.name,
    namespace: row.namespace,
    uid: row.uid,
    resourceVersion: String(row.resourceVersion),
    creationTimestamp: row.createdAt.toISOString(),
    ...row.meta,
  };
  switch (kind) {
    case "BuildConfig": {
      const bc = row as typeof buildConfigs.$inferSelect;
      const imageChangeTriggers = Object.entries(bc.imageTriggers).map(([key, digest]) => ({
        from: key,
        lastTriggeredImageID: digest,
      }));
      return {
        apiVersion: kilnApiVersion,
        kind,
        metadata,
        // Never a webhook secret: `kiln describe` shows the URLs with a placeholder, as `oc` does.
        spec: redactBuildConfigSpec(bc.spec),
        status: {
          lastVersion: bc.lastVersion,
          ...(imageChangeTriggers.length ? { imageChangeTriggers } : {}),
        },
      };
    }
    case "ImageStream":
      return {
        apiVersion: kilnApiVersion,
        kind,
        metadata,
        spec: row.spec,
        status: {
          dockerImageRepository: `${options.registry}/${row.namespace}/${row.name}`,
          tags: statusTags(options.tagHistory ?? []),
        },
      };
    case "Secret":
      // The values never leave Kiln again: only the type, the key names and (registry
      // credentials) which registries they are for.
      return {
        apiVersion: kilnApiVersion,
        kind,
        metadata,
        ...redactSecretSpec(row.spec as SecretSpec),
      };
    case "ImageStreamGrant":
    case "BuilderTemplate":
      return { apiVersion: kilnApiVersion, kind, metadata, spec: row.spec };
    default:
      return assertNever(kind, "resource kind");
  }
}
