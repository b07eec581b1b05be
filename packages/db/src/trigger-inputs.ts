import { imageChangeInputs, type BuildConfigSpec, type TagImage } from "@kiln/domain";
import { and, desc, eq } from "drizzle-orm";
import type { DbOrTx } from "./client.js";
import { imageStreamTags } from "./schema.js";

/**
 * The current image of each ImageChange input of a BuildConfig (paused ones too: the build uses them) (`namespace/is:tag` →
 * digest and reference), for a build that is not set off by an image change: it is built from
 * them and records them as its lastTriggeredImageID, as OpenShift does, so the ImageChange of
 * the same digest does not build again. An input whose tag holds no image yet is left out.
 */
export async function currentTriggerImages(
  db: DbOrTx,
  namespace: string,
  spec: BuildConfigSpec,
): Promise<Record<string, TagImage>> {
  const images: Record<string, TagImage> = {};
  for (const input of imageChangeInputs(spec, namespace)) {
    const slash = input.key.indexOf("/");
    const [stream = "", tag = "latest"] = input.key.slice(slash + 1).split(":");
    const [row] = await db
      .select({ digest: imageStreamTags.digest, imageReference: imageStreamTags.imageReference })
      .from(imageStreamTags)
      .where(
        and(
          eq(imageStreamTags.namespace, input.key.slice(0, slash)),
          eq(imageStreamTags.imageStream, stream),
          eq(imageStreamTags.tag, tag),
        ),
      )
      .orderBy(desc(imageStreamTags.createdAt))
      .limit(1);
    if (row) images[input.key] = row;
  }
  return images;
}
