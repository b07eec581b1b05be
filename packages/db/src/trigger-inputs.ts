import {
  imageChangeInputs,
  imageStreamTagKey,
  type BuildConfigSpec,
  type TagImage,
} from "@kiln/domain";
import { and, desc, eq } from "drizzle-orm";
import type { DbOrTx } from "./client.js";
import { imageStreamTags } from "./schema.js";

/**
 * The imported tags a BuildConfig's images name (a strategy's `from`, `source.images[].from`)
 * → the reference of the digest each was imported at, in its source registry: OpenShift's
 * `referencePolicy: Source` (Local is refused at apply). Kiln's registry never holds an
 * imported image, so `<kiln registry>/<ns>/<is>:<tag>` would name nothing.
 */
export async function importedImages(
  db: DbOrTx,
  namespace: string,
  spec: BuildConfigSpec,
): Promise<Record<string, string>> {
  const refs = [
    spec.strategy.sourceStrategy?.from,
    spec.strategy.dockerStrategy?.from,
    ...(spec.source.images ?? []).map((i) => i.from),
  ];
  const out: Record<string, string> = {};
  for (const ref of refs) {
    if (ref?.kind !== "ImageStreamTag") continue;
    const key = imageStreamTagKey(ref.namespace ?? namespace, ref.name);
    const row = await currentTag(db, key);
    if (row?.causeType === "Import") out[key] = row.imageReference;
  }
  return out;
}

/** The newest history row of a tag (`namespace/is:tag`): its current image, or undefined. */
async function currentTag(db: DbOrTx, key: string) {
  const slash = key.indexOf("/");
  const [stream = "", tag = "latest"] = key.slice(slash + 1).split(":");
  const [row] = await db
    .select({
      digest: imageStreamTags.digest,
      imageReference: imageStreamTags.imageReference,
      causeType: imageStreamTags.causeType,
    })
    .from(imageStreamTags)
    .where(
      and(
        eq(imageStreamTags.namespace, key.slice(0, slash)),
        eq(imageStreamTags.imageStream, stream),
        eq(imageStreamTags.tag, tag),
      ),
    )
    .orderBy(desc(imageStreamTags.createdAt))
    .limit(1);
  return row;
}

/**
 * The current image of each ImageChange input of a BuildConfig (paused ones too: the build
 * uses them) (`namespace/is:tag` → digest and reference), for a build that is not set off by an
 * image change: it is built from them and records them as its lastTriggeredImageID, as
 * OpenShift does, so the ImageChange of the same digest does not build again. An input whose
 * tag holds no image yet is left out.
 */
export async function currentTriggerImages(
  db: DbOrTx,
  namespace: string,
  spec: BuildConfigSpec,
): Promise<Record<string, TagImage>> {
  const images: Record<string, TagImage> = {};
  for (const input of imageChangeInputs(spec, namespace)) {
    const row = await currentTag(db, input.key);
    if (row) images[input.key] = { digest: row.digest, imageReference: row.imageReference };
  }
  return images;
}
