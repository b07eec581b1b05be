import { and, eq, sql } from "drizzle-orm";
import type { BuildConfigSpec, SecretSpec } from "@kiln/domain";
import type { DbOrTx } from "./client.js";
import { buildConfigs, secrets } from "./schema.js";

/** A BuildConfig as the webhook receiver needs it: its spec and the Secrets its triggers name. */
export interface WebhookBuildConfig {
  /** As stored: the webhook secrets are sealed. */
  spec: BuildConfigSpec;
  /**
   * The Secrets of the BuildConfig's namespace that its webhook triggers name by
   * `secretReference`, by name, as stored (values sealed). A name missing here has no Secret.
   */
  referencedSecrets: Map<string, SecretSpec>;
}

/**
 * The BuildConfig and the Secrets its webhook triggers reference, in one statement. One round
 * trip whether the BuildConfig exists or not, references Secrets or not: a reference costs no
 * time a request for an unknown BuildConfig would not, so the answer's timing still says
 * nothing about what exists.
 */
export async function getWebhookBuildConfig(
  db: DbOrTx,
  namespace: string,
  name: string,
): Promise<WebhookBuildConfig | null> {
  // `.*` is every webhook field of a trigger (github, gitlab, …); lax mode skips the rest.
  const referenced = sql`jsonb_path_query_array(${buildConfigs.spec}, '$.triggers[*].*.secretReference.name')`;
  const [row] = await db
    .select({
      spec: buildConfigs.spec,
      secrets: sql<{ name: string; spec: SecretSpec }[] | null>`(
        select jsonb_agg(jsonb_build_object('name', ${secrets.name}, 'spec', ${secrets.spec}))
        from ${secrets}
        where ${secrets.namespace} = ${buildConfigs.namespace}
          and ${secrets.name} in (select jsonb_array_elements_text(${referenced}))
      )`,
    })
    .from(buildConfigs)
    .where(and(eq(buildConfigs.namespace, namespace), eq(buildConfigs.name, name)));
  if (!row) return null;
  return {
    spec: row.spec,
    referencedSecrets: new Map((row.secrets ?? []).map((s) => [s.name, s.spec])),
  };
}
