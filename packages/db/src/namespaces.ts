import { sql } from "drizzle-orm";
import type { Db } from "./client.js";

/**
 * Every namespace Kiln holds a resource of, sorted: what a cluster-wide listing may show, for
 * a caller whose roles are looked up one namespace at a time (a Kubernetes user).
 */
export async function listNamespaces(db: Db): Promise<string[]> {
  const result = await db.execute<{ namespace: string }>(sql`
    select namespace from build_configs
    union select namespace from image_streams
    union select namespace from secrets
    union select namespace from image_stream_grants
    order by namespace`);
  return result.rows.map((row) => row.namespace);
}
