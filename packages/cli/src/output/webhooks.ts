import type { BuildConfig, WireTrigger, WireWebhook } from "../resources.js";

/** Trigger types that are webhooks, with the URL's `<type>` and how the sender proves the secret on Kiln's URL. */
const webhookTriggers = [
  {
    type: "GitHub",
    field: "github",
    proof: "X-Hub-Signature-256 (HMAC-SHA256 of the body with the secret)",
  },
  { type: "GitLab", field: "gitlab", proof: "X-Gitlab-Token (the secret)" },
  {
    type: "Bitbucket",
    field: "bitbucket",
    proof: "X-Hub-Signature (sha256= HMAC of the body with the secret)",
  },
  {
    type: "Gitea",
    field: "gitea",
    proof: "X-Gitea-Signature / X-Gogs-Signature (hex HMAC of the body with the secret)",
  },
  {
    type: "Generic",
    field: "generic",
    proof: "X-Hub-Signature-256, or Authorization: Bearer <secret>",
  },
] as const;

/** OpenShift's name for the key of an Opaque Secret that holds a webhook secret. */
const webhookSecretKey = "WebHookSecretKey";

/**
 * The URLs of each webhook trigger of a BuildConfig, for `kiln webhooks` and `kiln describe bc`.
 * Kiln's own URL needs the provider's signature header; OpenShift's URL carries the secret in
 * its path, which Kiln never gives back, so it is printed as `<secret>`, as `oc describe bc`
 * does, with where the value is: the inline secret applied, or the Secret a `secretReference`
 * names (which wins when both are set, as in OpenShift). Empty without webhook triggers.
 */
export function webhookLines(bc: BuildConfig, base: string): string[] {
  const namespace = enc(bc.metadata.namespace ?? "default");
  const name = enc(bc.metadata.name);
  const lines: string[] = [];
  for (const trigger of bc.spec?.triggers ?? []) {
    const def = webhookTriggers.find((d) => d.type === trigger.type);
    if (!def) continue;
    const settings: WireWebhook = (trigger as WireTrigger)[def.field] ?? {};
    const path = def.field;
    const openshiftUrl = `${base}/apis/build.openshift.io/v1/namespaces/${namespace}/buildconfigs/${name}/webhooks/<secret>/${path}`;
    lines.push(`Webhook ${def.type}:`);
    lines.push(`  URL:            ${base}/hooks/${namespace}/${name}/${path}`);
    lines.push(`  Proof:          ${def.proof}`);
    const ref = settings.secretReference?.name;
    if (ref) {
      const ignored = settings.secret ? `; ${def.field}.secret is not used` : "";
      lines.push(
        `  Secret:         key ${webhookSecretKey} of Secret ${ref} (secretReference${ignored})`,
        `  OpenShift URL:  ${openshiftUrl}`,
        `                  (<secret>: the value of key ${webhookSecretKey} of Secret ${ref})`,
      );
    } else if (settings.secret) {
      lines.push(
        `  OpenShift URL:  ${openshiftUrl}`,
        `                  (<secret>: the ${def.field}.secret you applied)`,
      );
    } else {
      lines.push(
        `  (no secret: this trigger accepts no delivery until ${def.field}.secret or ${def.field}.secretReference is set)`,
      );
    }
    const extras = [
      settings.allowEnv ? "env honoured (allowEnv)" : "",
      settings.includeTags ? "tag pushes build (includeTags)" : "",
    ].filter(Boolean);
    if (extras.length > 0) lines.push(`  Options:        ${extras.join(", ")}`);
  }
  return lines;
}

const enc = (s: string) => encodeURIComponent(s);
