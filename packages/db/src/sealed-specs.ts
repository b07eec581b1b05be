import {
  assertNever,
  type BuildConfigSpec,
  type Resource,
  type ResourceKind,
  type SecretSpec,
} from "@kiln/domain";
import type { SecretBox } from "./secret-box.js";

/**
 * Which parts of a stored spec are secret, and sealing or opening exactly those: a Secret's
 * docker config JSON, a BuildConfig's webhook trigger secrets. Everything else stays plain,
 * so queries and `kiln get` work on it without the key.
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
export function registriesOf(dockerConfigJson: string): string[] {
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
    case "Secret": {
      const secret = spec as SecretSpec;
      return {
        ...secret,
        dockerConfigJson: box.seal(secret.dockerConfigJson),
        registries: registriesOf(secret.dockerConfigJson),
      } satisfies SecretSpec;
    }
    case "ImageStream":
    case "ImageStreamGrant":
      return spec;
    default:
      return assertNever(kind, "resource kind");
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
      return spec;
    default:
      return assertNever(kind as never, "resource kind");
  }
}

export function openBuildConfigSpec(spec: BuildConfigSpec, box: SecretBox): BuildConfigSpec {
  return mapWebhookSecrets(spec, (s) => box.open(s));
}

export function openSecretSpec(spec: SecretSpec, box: SecretBox): SecretSpec {
  const { registries: _registries, ...plain } = spec;
  return { ...plain, dockerConfigJson: box.open(spec.dockerConfigJson) };
}

/** A stored BuildConfig spec as the API shows it: webhook secrets replaced by a marker. */
export function redactBuildConfigSpec(spec: BuildConfigSpec): BuildConfigSpec {
  return mapWebhookSecrets(spec, () => redacted);
}

export const redacted = "(redacted)";
