import { inArray, sql } from "drizzle-orm";
import type { BuildConfigSpec, CascadeState } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { listImageStreamGrants } from "./grants.js";
import { buildConfigs, builds } from "./schema.js";

/** Every BuildConfig, for the rebuild graph (cycle checks at apply, `kiln graph`, `kiln impact`). */
export async function listAllBuildConfigs(
  db: DbOrTx,
): Promise<{ namespace: string; name: string; spec: BuildConfigSpec }[]> {
  return db
    .select({ namespace: buildConfigs.namespace, name: buildConfigs.name, spec: buildConfigs.spec })
    .from(buildConfigs);
}

/**
 * What the ImageChange planner (`planImageTriggeredBuilds`) needs, in six queries whatever the
 * number of BuildConfigs: every BuildConfig, every tag's current image, the BuildConfigs with an
 * unfinished build, the image each one's newest ended build completed with, whether its
 * output tag has held that image, and the ImageStreamGrants.
 */
export async function loadCascadeState(db: DbOrTx): Promise<CascadeState> {
  const configs = await db
    .select({
      uid: buildConfigs.uid,
      namespace: buildConfigs.namespace,
      name: buildConfigs.name,
      spec: buildConfigs.spec,
      imageTriggers: buildConfigs.imageTriggers,
    })
    .from(buildConfigs);
  const current = await db.execute<{
    namespace: string;
    image_stream: string;
    tag: string;
    digest: string;
    image_reference: string;
  }>(sql`
    select distinct on (namespace, image_stream, tag) namespace, image_stream, tag, digest, image_reference
    from image_stream_tags order by namespace, image_stream, tag, created_at desc`);
  const unfinished = await db
    .selectDistinct({ namespace: builds.namespace, buildConfig: builds.buildConfig })
    .from(builds)
    .where(inArray(builds.phase, ["New", "Pending", "Running"]));
  const ended = await db.execute<{
    namespace: string;
    build_config: string;
    phase: string;
    digest: string | null;
  }>(sql`
    select distinct on (namespace, build_config) namespace, build_config, phase, output->>'digest' as digest
    from builds where phase in ('Complete', 'Failed', 'Error', 'Cancelled')
    order by namespace, build_config, number desc`);
  const lastOutputs = new Map<string, string>();
  for (const row of ended.rows)
    if (row.phase === "Complete" && row.digest)
      lastOutputs.set(`${row.namespace}/${row.build_config}`, row.digest);
  const digests = [...new Set(lastOutputs.values())];
  const held =
    digests.length === 0
      ? { rows: [] }
      : await db.execute<{
          namespace: string;
          image_stream: string;
          tag: string;
          digest: string;
        }>(sql`
          select distinct namespace, image_stream, tag, digest from image_stream_tags where digest = any(${sql.param(digests)}::text[])`);
  return {
    buildConfigs: configs,
    tags: new Map(
      current.rows.map((r) => [
        `${r.namespace}/${r.image_stream}:${r.tag}`,
        { digest: r.digest, imageReference: r.image_reference },
      ]),
    ),
    unfinished: new Set(unfinished.map((r) => `${r.namespace}/${r.buildConfig}`)),
    lastOutputs,
    tagHistory: new Set(
      held.rows.map((r) => `${r.namespace}/${r.image_stream}:${r.tag}@${r.digest}`),
    ),
    grants: await listImageStreamGrants(db),
  };
}

/**
 * Which of `images` a tag's committed history holds (as `ns/is:tag@digest`): an event for one it
 * does not hold is newer than the last commit read (or was never recorded by Kiln).
 */
export async function heldTagImages(
  db: DbOrTx,
  images: readonly { namespace: string; imageStream: string; tag: string; digest: string }[],
): Promise<Set<string>> {
  if (images.length === 0) return new Set();
  const column = (key: "namespace" | "imageStream" | "tag" | "digest") =>
    sql.param(images.map((image) => image[key]));
  const result = await db.execute<{
    namespace: string;
    image_stream: string;
    tag: string;
    digest: string;
  }>(sql`
    select distinct t.namespace, t.image_stream, t.tag, t.digest
    from unnest(${column("namespace")}::text[], ${column("imageStream")}::text[], ${column("tag")}::text[], ${column("digest")}::text[])
      as wanted(namespace, image_stream, tag, digest)
    join image_stream_tags t using (namespace, image_stream, tag, digest)`);
  return new Set(result.rows.map((r) => `${r.namespace}/${r.image_stream}:${r.tag}@${r.digest}`));
}
