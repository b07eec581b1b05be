import { describe, expect, it } from "vitest";
import type { BuildConfig } from "../resources.js";
import { webhookLines } from "./webhooks.js";

const base = "https://hooks.example";
const bc = (triggers: unknown[]): BuildConfig =>
  ({ metadata: { name: "app", namespace: "team" }, spec: { triggers } }) as BuildConfig;
const openshiftUrl = (type: string) =>
  `${base}/apis/build.openshift.io/v1/namespaces/team/buildconfigs/app/webhooks/<secret>/${type}`;

describe("webhookLines", () => {
  it("shows a secretReference trigger's URLs with <secret> and names the Secret and its key", () => {
    const out = webhookLines(
      bc([{ type: "GitHub", github: { secretReference: { name: "hook" } } }]),
      base,
    ).join("\n");
    expect(out).toContain(`URL:            ${base}/hooks/team/app/github`);
    expect(out).toContain("Secret:         key WebHookSecretKey of Secret hook (secretReference)");
    expect(out).toContain(`OpenShift URL:  ${openshiftUrl("github")}`);
    expect(out).toContain("(<secret>: the value of key WebHookSecretKey of Secret hook)");
    expect(out).not.toContain("not supported");
  });

  it("says the inline secret is not used when a secretReference is there too, as in OpenShift", () => {
    const out = webhookLines(
      bc([
        { type: "Generic", generic: { secret: "(redacted)", secretReference: { name: "hook" } } },
      ]),
      base,
    ).join("\n");
    expect(out).toContain("of Secret hook (secretReference; generic.secret is not used)");
    expect(out).toContain(openshiftUrl("generic"));
  });

  it("keeps the inline secret's lines, and names both fields when neither is set", () => {
    expect(webhookLines(bc([{ type: "GitLab", gitlab: { secret: "(redacted)" } }]), base)).toEqual([
      "Webhook GitLab:",
      `  URL:            ${base}/hooks/team/app/gitlab`,
      "  Proof:          X-Gitlab-Token (the secret)",
      `  OpenShift URL:  ${openshiftUrl("gitlab")}`,
      "                  (<secret>: the gitlab.secret you applied)",
    ]);
    expect(webhookLines(bc([{ type: "GitHub", github: {} }]), base)).toContain(
      "  (no secret: this trigger accepts no delivery until github.secret or github.secretReference is set)",
    );
    expect(webhookLines(bc([{ type: "ImageChange", imageChange: {} }]), base)).toEqual([]);
  });
});
