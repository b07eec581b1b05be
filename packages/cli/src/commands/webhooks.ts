import type { CommandContext } from "../context.js";
import type { WireTrigger, WireWebhook } from "../resources.js";

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

/**
 * `kiln webhooks NAME`: the URLs of each webhook trigger of a BuildConfig. Kiln's own URL needs
 * the provider's signature header; OpenShift's URL carries the secret in its path, which Kiln
 * never gives back, so it is printed as `<secret>`, as `oc describe bc` does: fill in the value
 * you applied.
 */
export async function webhooksCommand(
  ctx: CommandContext,
  name: string,
  options: { namespace?: string | undefined },
): Promise<void> {
  const namespace = ctx.namespace(options.namespace);
  const bc = await ctx.client().getBuildConfig(namespace, name);
  const base = ctx.getConfig().webhookUrl;
  const lines: string[] = [];
  for (const trigger of bc.spec?.triggers ?? []) {
    const def = webhookTriggers.find((d) => d.type === trigger.type);
    if (!def) continue;
    const settings: WireWebhook = (trigger as WireTrigger)[def.field] ?? {};
    const path = def.field;
    lines.push(`Webhook ${def.type}:`);
    lines.push(`  URL:            ${base}/hooks/${enc(namespace)}/${enc(name)}/${path}`);
    lines.push(`  Proof:          ${def.proof}`);
    if (settings.secret) {
      lines.push(
        `  OpenShift URL:  ${base}/apis/build.openshift.io/v1/namespaces/${enc(namespace)}/buildconfigs/${enc(name)}/webhooks/<secret>/${path}`,
        `                  (<secret>: the ${def.field}.secret you applied)`,
      );
    } else {
      lines.push(
        `  (no secret: this trigger accepts no delivery until ${def.field}.secret is set${settings.secretReference ? "; secretReference is not supported yet" : ""})`,
      );
    }
    const extras = [
      settings.allowEnv ? "env honoured (allowEnv)" : "",
      settings.includeTags ? "tag pushes build (includeTags)" : "",
    ].filter(Boolean);
    if (extras.length > 0) lines.push(`  Options:        ${extras.join(", ")}`);
  }
  if (lines.length === 0) {
    ctx.out(
      `BuildConfig ${name} has no webhook triggers (add one under spec.triggers, e.g. {type: GitHub, github: {secret: …}})\n`,
    );
    return;
  }
  ctx.out(`${lines.join("\n")}\n`);
}

const enc = (s: string) => encodeURIComponent(s);
