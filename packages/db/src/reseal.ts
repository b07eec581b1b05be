import { eq } from "drizzle-orm";
import type { Db } from "./client.js";
import { buildConfigs, secrets } from "./schema.js";
import { SecretBox } from "./secret-box.js";
import { openSpec, sealSpec } from "./sealed-specs.js";
import { sameJson } from "./json.js";

/**
 * Seals the secrets a Kiln from before encryption at rest stored in clear (run by `kiln up` and
 * `kiln-service migrate` with the key). Only how they are stored changes: no resourceVersion
 * moves and nothing is triggered. Returns how many rows were sealed.
 */
export async function resealStoredSecrets(db: Db, box: SecretBox): Promise<number> {
  let sealed = 0;
  for (const [kind, table] of [
    ["Secret", secrets],
    ["BuildConfig", buildConfigs],
  ] as const) {
    const rows = await db.select({ uid: table.uid, spec: table.spec }).from(table);
    for (const row of rows) {
      const plain = openSpec(kind, row.spec, box);
      if (!hasClearSecret(kind, row.spec)) continue;
      const next = sealSpec(kind, plain as never, box);
      if (sameJson(next, row.spec)) continue;
      await db
        .update(table)
        .set({ spec: next as never })
        .where(eq(table.uid, row.uid));
      sealed += 1;
    }
  }
  return sealed;
}

function hasClearSecret(kind: "Secret" | "BuildConfig", spec: unknown): boolean {
  const clear = (value: unknown) => typeof value === "string" && !SecretBox.isSealed(value);
  if (kind === "Secret") {
    const secret = spec as { dockerConfigJson?: unknown; data?: Record<string, unknown> };
    // A docker config Secret's JSON; an Opaque Secret's values, any one of them.
    return clear(secret.dockerConfigJson) || Object.values(secret.data ?? {}).some(clear);
  }
  const triggers = (spec as { triggers?: Record<string, { secret?: unknown } | undefined>[] })
    .triggers;
  return (triggers ?? []).some((trigger) =>
    Object.values(trigger).some(
      (hook) => typeof hook === "object" && hook !== null && clear(hook.secret),
    ),
  );
}
