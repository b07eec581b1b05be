import { describe, expect, it } from "vitest";
import { parseResource } from "../resources/parse.js";
import { redactWebhookSecrets } from "./webhook-secrets.js";

describe("redactWebhookSecrets", () => {
  it("hides every inline webhook secret and leaves the rest as it was", () => {
    const r = parseResource({
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "app" },
      spec: {
        source: { git: { uri: "file:///x" } },
        strategy: { type: "Docker" },
        triggers: [
          { type: "GitHub", github: { secret: "s3cret", includeTags: true } },
          { type: "Generic", generic: { secretReference: { name: "hook" }, allowEnv: true } },
          { type: "ConfigChange" },
        ],
      },
    });
    if (r.kind !== "BuildConfig") throw new Error("kind");
    const shown = redactWebhookSecrets(r.spec);
    expect(shown.triggers).toEqual([
      { type: "GitHub", github: { secret: "(redacted)", includeTags: true } },
      { type: "Generic", generic: { secretReference: { name: "hook" }, allowEnv: true } },
      { type: "ConfigChange" },
    ]);
    expect(JSON.stringify(shown)).not.toContain("s3cret");
    expect(r.spec.triggers[0]!.github!.secret).toBe("s3cret");
  });
});
