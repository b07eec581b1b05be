import type { BuildConfigSpec } from "../resources/build-config.js";

/** What a webhook secret reads as to a caller who may not edit the BuildConfig. */
const redacted = "(redacted)";

/**
 * The spec with its triggers' inline webhook secrets hidden. A webhook secret starts builds
 * (it is the credential of the webhook URL), so a `view` token, which may not start builds,
 * must not read it; an `edit` token sees it, so `get -o yaml | apply` round-trips.
 */
export function redactWebhookSecrets(spec: BuildConfigSpec): BuildConfigSpec {
  const hide = <T extends { secret?: string | undefined } | undefined>(webhook: T): T =>
    webhook?.secret === undefined ? webhook : { ...webhook, secret: redacted };
  return {
    ...spec,
    triggers: spec.triggers.map((t) => ({
      ...t,
      ...(t.github ? { github: hide(t.github) } : {}),
      ...(t.gitlab ? { gitlab: hide(t.gitlab) } : {}),
      ...(t.bitbucket ? { bitbucket: hide(t.bitbucket) } : {}),
      ...(t.gitea ? { gitea: hide(t.gitea) } : {}),
      ...(t.generic ? { generic: hide(t.generic) } : {}),
    })),
  };
}
