import type { ImageStreamGrantRule } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { imageStreamGrants } from "./schema.js";

/**
 * Every ImageStreamGrant, as the access rules read them. One small table: a grant per pair of
 * namespaces that share images, read whole at apply, at dispatch and by each ImageChange pass.
 */
export async function listImageStreamGrants(db: DbOrTx): Promise<ImageStreamGrantRule[]> {
  return db
    .select({
      namespace: imageStreamGrants.namespace,
      name: imageStreamGrants.name,
      spec: imageStreamGrants.spec,
    })
    .from(imageStreamGrants);
}
