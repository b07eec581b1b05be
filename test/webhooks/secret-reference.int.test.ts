import { createHmac, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { integrationTest as test } from "@kiln/testing";
import { afterEach, expect } from "vitest";
import { kiln as kilnCli } from "../support/cli.js";
import { api, startKiln, type KilnInfra, type RunningKiln } from "../support/kiln-services.js";

/**
 * OpenShift's `secretReference`: a webhook trigger whose secret is the `WebHookSecretKey` of an
 * Opaque Secret of the BuildConfig's namespace. The real api, scheduler and webhook-receiver
 * processes, so an accepted delivery is a Build the api lists.
 */
const first = "hook-value-one-3f9a0c";
const second = "hook-value-two-77c1e4";
const inline = "inline-secret-not-used-5d2b";
const otherValue = "other-token-a81f-never-shown";
const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** OpenShift's own example: a Secret without `type` (so Opaque), the value base64 in `data`. */
const opaqueSecret = (name: string, data: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name },
  data: Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
  ),
});

const openshiftBuildConfig = (name: string, triggers: unknown[]) => ({
  apiVersion: "build.openshift.io/v1",
  kind: "BuildConfig",
  metadata: { name },
  spec: {
    source: { type: "Git", git: { uri: "https://git.example.test/app.git", ref: "main" } },
    strategy: { type: "Docker", dockerStrategy: {} },
    output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    // Parallel: each accepted delivery is a build of its own at once, none queued behind another.
    runPolicy: "Parallel",
    triggers,
  },
});

const push = JSON.stringify({
  ref: "refs/heads/main",
  before: "1".repeat(40),
  after: sha,
  head_commit: { id: sha, message: "change" },
  repository: { default_branch: "main" },
});

async function start(infra: KilnInfra, databaseUrl: string, subjectPrefix: string) {
  running = await startKiln({
    infra,
    databaseUrl,
    subjectPrefix,
    services: ["api", "scheduler", "webhook-receiver"],
  });
  const kiln = running;
  const call = api(kiln);
  const github = async (bc: string, key: string) => {
    const res = await fetch(`${kiln.webhookUrl}/hooks/default/${bc}/github`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": `sha256=${createHmac("sha256", key).update(push).digest("hex")}`,
      },
      body: push,
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  /** OpenShift's generic URL, the secret in its path. */
  const generic = async (bc: string, key: string) => {
    const res = await fetch(
      `${kiln.webhookUrl}/apis/build.openshift.io/v1/namespaces/default/buildconfigs/${bc}/webhooks/${encodeURIComponent(key)}/generic`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": randomUUID() },
        body: JSON.stringify({ git: { ref: "main", commit: sha } }),
      },
    );
    return { status: res.status, json: (await res.json()) as any };
  };
  const builds = async (bc: string): Promise<string[]> =>
    (await call("GET", `/apis/v1/namespaces/default/builds?buildConfig=${bc}`)).json.items.map(
      (b: any) => b.metadata.name,
    );
  /** Waits for the scheduler to have made `count` builds of `bc`. */
  const waitForBuilds = async (bc: string, count: number) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const names = await builds(bc);
      if (names.length >= count) return names;
      if (Date.now() > deadline) throw new Error(`${bc} has builds ${names.join(",")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const deliveries = async (bc: string): Promise<any[]> =>
    (await call("GET", `/apis/v1/namespaces/default/webhookdeliveries?buildConfig=${bc}`)).json
      .items;
  return { kiln, call, github, generic, builds, waitForBuilds, deliveries };
}

test("a BuildConfig whose triggers name an Opaque Secret builds on a push signed with its WebHookSecretKey and on the generic URL holding it; a wrong value, and the trigger's own secret, get 401; a re-applied Secret's value replaces the old within a second", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const { kiln, call, github, generic, builds, waitForBuilds, deliveries } = await start(
    infra,
    database.url,
    subjectPrefix,
  );
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      opaqueSecret("hook", { WebHookSecretKey: first }),
      openshiftBuildConfig("app", [
        { type: "GitHub", github: { secretReference: { name: "hook" } } },
        // Both set: OpenShift uses the reference, and so does Kiln.
        { type: "Generic", generic: { secret: inline, secretReference: { name: "hook" } } },
      ]),
    ],
  });
  expect(applied.status).toBe(200);

  const signed = await github("app", first);
  expect(signed).toMatchObject({ status: 202, json: { outcome: "build-requested", commit: sha } });
  expect(await waitForBuilds("app", 1)).toEqual(["app-1"]);
  const viaUrl = await generic("app", first);
  expect(viaUrl).toMatchObject({ status: 202, json: { outcome: "build-requested" } });
  expect((await waitForBuilds("app", 2)).sort()).toEqual(["app-1", "app-2"]);

  // A wrong value, and the inline secret a reference overrides: the usual 401, no build.
  const wrong = await github("app", "not-the-value");
  expect(wrong.status).toBe(401);
  expect(wrong.json.error).toBe("Unauthorized");
  expect((await generic("app", inline)).status).toBe(401);
  expect((await generic("app", "not-the-value")).status).toBe(401);

  // Rotating: the same Secret with another value. The receiver reads it again within a second.
  const rotated = await call("POST", "/apis/v1/apply", {
    items: [{ ...opaqueSecret("hook", {}), stringData: { WebHookSecretKey: second } }],
  });
  expect(rotated.json.items[0]).toMatchObject({ kind: "Secret", action: "configured" });
  const rotatedAt = Date.now();
  let accepted = await github("app", second);
  while (accepted.status === 401 && Date.now() - rotatedAt < 5_000) {
    await new Promise((r) => setTimeout(r, 100));
    accepted = await github("app", second);
  }
  expect(accepted).toMatchObject({ status: 202, json: { outcome: "build-requested" } });
  expect(Date.now() - rotatedAt).toBeLessThan(2_500);
  expect((await github("app", first)).status).toBe(401);
  expect((await generic("app", first)).status).toBe(401);
  expect((await generic("app", second)).status).toBe(202);
  await waitForBuilds("app", 4);
  await new Promise((r) => setTimeout(r, 500));
  expect(await builds("app")).toHaveLength(4);

  // The refused deliveries are on record as wrong secrets: the Secret itself was fine.
  const refused = (await deliveries("app")).filter((d) => d.outcome === "rejected");
  expect(refused.length).toBeGreaterThanOrEqual(5);
  for (const d of refused) expect(d.reason).toBe("Unauthorized");

  // What may be shown of the Secret: its type and key, never a value.
  const yaml = await kilnCli(kiln.cliEnv, "get", "secret", "hook", "-o", "yaml");
  expect(yaml.code).toBe(0);
  expect(yaml.stdout).toContain("type: Opaque");
  expect(yaml.stdout).toContain("WebHookSecretKey: (redacted)");
  const table = await kilnCli(kiln.cliEnv, "get", "secrets");
  expect(table.stdout).toMatch(/^NAME +TYPE +DATA +AGE$/m);
  expect(table.stdout).toMatch(/^hook +Opaque +WebHookSecretKey +/m);
  const env = { ...kiln.cliEnv, KILN_WEBHOOK_URL: kiln.webhookUrl };
  const openshiftUrl = (type: string) =>
    `${kiln.webhookUrl}/apis/build.openshift.io/v1/namespaces/default/buildconfigs/app/webhooks/<secret>/${type}`;
  const urls = await kilnCli(env, "webhooks", "app");
  expect(urls.code).toBe(0);
  expect(urls.stdout).toContain(openshiftUrl("github"));
  expect(urls.stdout).toContain(openshiftUrl("generic"));
  expect(urls.stdout).toContain("key WebHookSecretKey of Secret hook");
  expect(urls.stdout).not.toContain("not supported");
  const described = await kilnCli(env, "describe", "bc", "app");
  expect(described.stdout).toContain(openshiftUrl("github"));
  expect(described.stdout).toContain("key WebHookSecretKey of Secret hook");
  for (const out of [yaml.stdout, table.stdout, urls.stdout, described.stdout])
    for (const value of [first, second, inline]) expect(out).not.toContain(value);
  for (const path of [
    "/apis/v1/namespaces/default/secrets/hook",
    "/apis/v1/namespaces/default/buildconfigs/app",
  ]) {
    const res = await call("GET", path);
    for (const value of [first, second, inline]) expect(res.text).not.toContain(value);
  }

  // Nor did any process log one.
  for (const file of await readdir(kiln.logsDir)) {
    const log = await readFile(join(kiln.logsDir, file), "utf8");
    for (const value of [first, second, inline]) expect(log).not.toContain(value);
  }
});

test("a reference to a missing Secret, a Secret without WebHookSecretKey or a docker config Secret accepts nothing: the same 401, and the delivery tells the owner why", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const { kiln, call, github, generic, builds, deliveries } = await start(
    infra,
    database.url,
    subjectPrefix,
  );
  const dockerConfig = JSON.stringify({ auths: { "registry.example": { auth: "eDp5" } } });
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      opaqueSecret("other", { token: otherValue }),
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "regcred" },
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": dockerConfig },
      },
      openshiftBuildConfig("absent", [
        { type: "GitHub", github: { secretReference: { name: "nope" } } },
      ]),
      openshiftBuildConfig("nokey", [
        { type: "Generic", generic: { secretReference: { name: "other" } } },
      ]),
      openshiftBuildConfig("registry", [
        { type: "GitHub", github: { secretReference: { name: "regcred" } } },
      ]),
    ],
  });
  expect(applied.status).toBe(200);

  const wrongSecretAnswer = await github("unknown-bc", "x");
  const answers = [
    await github("absent", "anything"),
    await generic("nokey", otherValue),
    await generic("nokey", "anything"),
    await github("registry", "anything"),
  ];
  for (const answer of answers) {
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual(wrongSecretAnswer.json);
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const bc of ["absent", "nokey", "registry"]) expect(await builds(bc)).toEqual([]);

  expect(await deliveries("absent")).toEqual([
    expect.objectContaining({
      outcome: "rejected",
      reason: "SecretNotFound",
      message:
        "the GitHub trigger's secretReference names Secret default/nope, which does not exist",
    }),
  ]);
  const nokey = await deliveries("nokey");
  expect(nokey).toHaveLength(2);
  for (const d of nokey) {
    expect(d).toMatchObject({
      outcome: "rejected",
      reason: "SecretKeyMissing",
      message:
        "the Generic trigger's secretReference names Secret default/other, which has no key WebHookSecretKey",
    });
  }
  expect(await deliveries("registry")).toEqual([
    expect.objectContaining({
      reason: "SecretKeyMissing",
      message: expect.stringContaining(
        "Secret default/regcred, which is a kubernetes.io/dockerconfigjson Secret, without the key WebHookSecretKey",
      ),
    }),
  ]);

  // `kiln events` shows the owner the reason beside the delivery, and no value.
  const events = await kilnCli(kiln.cliEnv, "events", "--bc", "absent");
  expect(events.stdout).toContain(
    "SecretNotFound: the GitHub trigger's secretReference names Secret default/nope, which does not exist",
  );
  const all = await kilnCli(kiln.cliEnv, "events");
  expect(all.stdout).toContain("SecretKeyMissing");
  expect(all.stdout).not.toContain(otherValue);

  // Once the Secret is there, the same trigger works (within the receiver's second of cache).
  await call("POST", "/apis/v1/apply", {
    items: [opaqueSecret("nope", { WebHookSecretKey: first })],
  });
  const appliedAt = Date.now();
  let accepted = await github("absent", first);
  while (accepted.status === 401 && Date.now() - appliedAt < 5_000) {
    await new Promise((r) => setTimeout(r, 100));
    accepted = await github("absent", first);
  }
  expect(accepted).toMatchObject({ status: 202, json: { outcome: "build-requested" } });
});
