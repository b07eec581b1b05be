import { getResource, openSecretSpec, type DbOrTx, type SecretBox } from "@kiln/db";
import {
  assertNever,
  secretEnvRefs,
  SecretType,
  type BuildRecord,
  type SecretEnvValues,
  type SecretSpec,
} from "@kiln/domain";

/** The Secret values a build's env reads, or why the build cannot have them (naming Secret and key, never a value). */
export type SecretEnvRead =
  { values: SecretEnvValues | undefined } | { missing: { message: string; secret: string } };

/**
 * Reads the values the build's `env[].valueFrom.secretKeyRef` entries name, from the Secrets as
 * they are now (a Secret changed since the apply is read as changed, as OpenShift reads it when
 * the build pod starts). Only the keys named are taken.
 */
export async function readSecretEnv(
  db: DbOrTx,
  build: BuildRecord,
  secrets: SecretBox,
): Promise<SecretEnvRead> {
  const refs = secretEnvRefs(build.spec);
  if (refs.length === 0) return { values: undefined };
  const values: SecretEnvValues = {};
  // undefined: no such Secret; null: not an Opaque one.
  const opened = new Map<string, Record<string, string> | null | undefined>();
  for (const { field, env, ref } of refs) {
    const where = `${field} (${env}) reads key ${ref.key} of Secret ${build.namespace}/${ref.name}`;
    if (!opened.has(ref.name)) {
      const secret = await getResource(db, "Secret", build.namespace, ref.name);
      opened.set(ref.name, secret ? dataOf(secret.spec as SecretSpec, secrets) : undefined);
    }
    const data = opened.get(ref.name);
    if (data === undefined && ref.optional) continue;
    if (!data)
      return {
        missing: {
          message:
            data === null
              ? `${where}: it is a ${SecretType.DockerConfigJson} Secret; env values are read from ${SecretType.Opaque} Secrets`
              : `${where}: the Secret does not exist`,
          secret: ref.name,
        },
      };
    const value = data[ref.key];
    if (value === undefined) {
      if (ref.optional) continue;
      return { missing: { message: `${where}: the Secret has no such key`, secret: ref.name } };
    }
    (values[ref.name] ??= {})[ref.key] = value;
  }
  return { values };
}

/** An Opaque Secret's values; null for a Secret of another type. */
function dataOf(spec: SecretSpec, secrets: SecretBox): Record<string, string> | null {
  switch (spec.type) {
    case SecretType.Opaque:
      return openSecretSpec(spec, secrets).data;
    case SecretType.DockerConfigJson:
      return null;
    default:
      return assertNever(spec, "Secret type");
  }
}
