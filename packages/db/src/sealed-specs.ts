import {
  assertNever,
  SecretType,
  type BuildConfigSpec,
  type Resource,
  type ResourceKind,
  type SecretSpec,
} from "@kiln/domain";
import type { SecretBox } from "./secret-box.js";

/**
 * Which parts of a stored spec are secret, and sealing or opening exactly those: a docker config
 * Secret's JSON, every value of an Opaque Secret (its keys stay plain), a BuildConfig's webhook
 * trigger secrets. Everything else stays plain, so queries and `kiln get` work on it without
 * the key.
 */
const webhookKinds = ["github", "gitlab", "bitbucket", "gitea", "generic"] as const;

function mapWebhookSecrets(spec: BuildConfigSpec, map: (value: string) => string): BuildConfigSpec {
  return {
    ...spec,
    triggers: spec.triggers.map((trigger) => {
      const next = { ...trigger };
      for (const kind of webhookKinds) {
        const hook = trigger[kind];
        if (hook?.secret) next[kind] = { ...hook, secret: map(hook.secret) };
      }
      return next;
    }),
  };
}

/** The registries a docker config JSON has credentials for: what may be shown of it. */
function registriesOf(dockerConfigJson: string): string[] {
  try {
    return Object.keys((JSON.parse(dockerConfigJson) as { auths: object }).auths);
  } catch {
    return [];
  }
}

export function sealSpec(kind: ResourceKind, spec: Resource["spec"], box: SecretBox): unknown {
  switch (kind) {
    case "BuildConfig":
      return mapWebhookSecrets(spec as BuildConfigSpec, (s) => box.seal(s));
    case "Secret":
      return sealSecretSpec(spec as SecretSpec, box);
    case "ImageStream":
    case "ImageStreamGrant":
    case "BuilderTemplate":
      return spec;
    default:
      return assertNever(kind, "resource kind");
  }
}

function sealSecretSpec(secret: SecretSpec, box: SecretBox): SecretSpec {
  switch (secret.type) {
    case SecretType.DockerConfigJson:
      return {
        ...secret,
        dockerConfigJson: box.seal(secret.dockerConfigJson),
        registries: registriesOf(secret.dockerConfigJson),
      };
    case SecretType.Opaque:
      return { type: secret.type, data: mapValues(secret.data, (v) => box.seal(v)) };
    default:
      return assertNever(secret, "Secret type");
  }
}

/** A stored spec with its secrets opened (what the webhook receiver and the scheduler use). */
export function openSpec<K extends ResourceKind>(kind: K, spec: unknown, box: SecretBox): unknown {
  switch (kind) {
    case "BuildConfig":
      return openBuildConfigSpec(spec as BuildConfigSpec, box);
    case "Secret":
      return openSecretSpec(spec as SecretSpec, box);
    case "ImageStream":
    case "ImageStreamGrant":
    case "BuilderTemplate":
      return spec;
    default:
      return assertNever(kind as never, "resource kind");
  }
}

export function openBuildConfigSpec(spec: BuildConfigSpec, box: SecretBox): BuildConfigSpec {
  return mapWebhookSecrets(spec, (s) => box.open(s));
}

/** A stored Secret with its values opened; of the type it was (a narrowed spec stays narrowed). */
export function openSecretSpec<S extends SecretSpec>(spec: S, box: SecretBox): S {
  return openAnySecretSpec(spec, box) as S;
}

function openAnySecretSpec(spec: SecretSpec, box: SecretBox): SecretSpec {
  switch (spec.type) {
    case SecretType.DockerConfigJson: {
      const { registries: _registries, ...plain } = spec;
      return { ...plain, dockerConfigJson: box.open(spec.dockerConfigJson) };
    }
    case SecretType.Opaque:
      return { type: spec.type, data: mapValues(spec.data, (v) => box.open(v)) };
    default:
      return assertNever(spec, "Secret type");
  }
}

/**
 * One value of a stored Opaque Secret, opened; null when the Secret is not Opaque or has no such
 * key. Opens that value only, so a webhook delivery decrypts one value, not the whole Secret.
 */
export function openSecretValue(spec: SecretSpec, key: string, box: SecretBox): string | null {
  if (spec.type !== SecretType.Opaque || !Object.hasOwn(spec.data, key)) return null;
  return box.open(spec.data[key]!);
}

/**
 * A stored Secret as the API shows it: its type and key names, every value replaced by a marker
 * (a docker config Secret also says which registries it is for).
 */
export function redactSecretSpec(spec: SecretSpec): {
  type: SecretType;
  data: Record<string, string>;
  registries?: string[];
} {
  switch (spec.type) {
    case SecretType.DockerConfigJson:
      return {
        type: spec.type,
        data: { ".dockerconfigjson": redacted },
        registries: spec.registries ?? registriesOf(spec.dockerConfigJson),
      };
    case SecretType.Opaque:
      return { type: spec.type, data: mapValues(spec.data, () => redacted) };
    default:
      return assertNever(spec, "Secret type");
  }
}

function mapValues(
  record: Record<string, string>,
  map: (value: string) => string,
): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, map(v)]));
}

/** A stored BuildConfig spec as the API shows it: webhook secrets replaced by a marker. */
export function redactBuildConfigSpec(spec: BuildConfigSpec): BuildConfigSpec {
  return mapWebhookSecrets(spec, () => redacted);
}

export const redacted = "(redacted)";
