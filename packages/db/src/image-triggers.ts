import { and, eq, inArray, sql } from "drizzle-orm";
import type { BuildConfigSpec } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { buildConfigs, builds } from "./schema.js";

export interface TriggerableBuildConfig {
  uid: string;
  namespace: string;
  name: string;
  spec: BuildConfigSpec;
  /** `namespace/imagestream:tag` → last digest that started a build. */
  imageTriggers: Record<string, string>;
}

/** Every BuildConfig with an ImageChange trigger (the matching itself is the domain's). */
export async function listImageTriggeredBuildConfigs(db: DbOrTx): Promise<TriggerableBuildConfig[]> {
  const rows = await db
    .select({ uid: buildConfigs.uid, namespace: buildConfigs.namespace, name: buildConfigs.name, spec: buildConfigs.spec, imageTriggers: buildConfigs.imageTriggers })
    .from(buildConfigs)
    .where(sql`${buildConfigs.spec}->'triggers' @> '[{"type":"ImageChange"}]'::jsonb`);
  return rows;
}

/** Records that `digest` of `key` started a build of the BuildConfig (OpenShift's lastTriggeredImageID). */
export async function recordImageTriggered(db: DbOrTx, uid: string, key: string, digest: string): Promise<void> {
  await db
    .update(buildConfigs)
    .set({ imageTriggers: sql`${buildConfigs.imageTriggers} || ${JSON.stringify({ [key]: digest })}::jsonb` })
    .where(eq(buildConfigs.uid, uid));
}

/** Every BuildConfig, for the rebuild graph (cycle checks at apply, `kiln graph`, `kiln impact`). */
export async function listAllBuildConfigs(db: DbOrTx): Promise<{ namespace: string; name: string; spec: BuildConfigSpec }[]> {
  return db.select({ namespace: buildConfigs.namespace, name: buildConfigs.name, spec: buildConfigs.spec }).from(buildConfigs);
}

/** Whether a BuildConfig has a build that has not ended (New, Pending or Running). */
export async function hasUnfinishedBuild(db: DbOrTx, namespace: string, buildConfig: string): Promise<boolean> {
  const [row] = await db
    .select({ id: builds.id })
    .from(builds)
    .where(and(eq(builds.namespace, namespace), eq(builds.buildConfig, buildConfig), inArray(builds.phase, ["New", "Pending", "Running"])))
    .limit(1);
  return row !== undefined;
}
