import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createApiServer } from "@kiln/api";
import {
  createDatabase,
  getResource,
  openBuildConfigSpec,
  openSecretSpec,
  resealStoredSecrets,
  SecretBox,
  secrets as secretsTable,
  buildConfigs,
} from "@kiln/db";
import type {
  BuildConfigSpec,
  DockerConfigJsonSecretSpec,
  OpaqueSecretSpec,
  SecretSpec,
} from "@kiln/domain";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as test } from "@kiln/testing";
import { expect } from "vitest";

const exec = promisify(execFile);
const logger = createLogger({ service: "secrets-at-rest-test", level: "silent" });
const token = "test-token-0123456789abcdef";
const webhookSecret = "hook-secret-5e1f-never-in-a-dump";
const password = "registry-pw-77a0-never-in-a-dump";
const auth = Buffer.from(`ci:${password}`).toString("base64");
const dockerConfig = JSON.stringify({ auths: { "registry.example": { auth } } });
// An Opaque Secret's values, one from `data` (base64) and one from `stringData`.
const referencedSecret = "opaque-hook-secret-9b21-never-in-a-dump";
const opaqueToken = "opaque-token-c4d8-never-in-a-dump";
const opaqueBase64 = Buffer.from(referencedSecret).toString("base64");

const manifests = [
  {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "regcred" },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(dockerConfig).toString("base64") },
  },
  {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "hook" },
    data: { WebHookSecretKey: opaqueBase64 },
    stringData: { token: opaqueToken },
  },
  {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: "app" },
    spec: {
      source: { git: { uri: "https://git.example.test/app.git" } },
      strategy: { type: "Docker", dockerStrategy: { pullSecret: { name: "regcred" } } },
      output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
      triggers: [
        { type: "GitHub", github: { secret: webhookSecret } },
        { type: "Generic", generic: { secretReference: { name: "hook" } } },
      ],
    },
  },
];

const everySecret = [webhookSecret, password, auth, referencedSecret, opaqueBase64, opaqueToken];

test("a dump of the database shows no webhook secret, no registry credential and no Opaque Secret value; the key opens them, the API shows none", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const db = createDatabase(database.url);
  const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "secrets-test" });
  const app = createApiServer({
    db: db.db,
    bus,
    logger,
    token,
    registry: infra.registry.address,
    secrets: infra.secrets,
    instantiateWaitMs: 300,
  });
  const call = async (method: "GET" | "POST", url: string, payload?: object) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
    return { status: res.statusCode, text: res.body };
  };
  try {
    expect((await call("POST", "/apis/v1/apply", { items: manifests })).status).toBe(200);
    // Applying the same again changes nothing, though every sealing takes a fresh nonce.
    const again = await call("POST", "/apis/v1/apply", { items: manifests });
    expect(JSON.parse(again.text).items.map((i: { action: string }) => i.action)).toEqual([
      "unchanged",
      "unchanged",
      "unchanged",
    ]);

    // What an attacker with the database, and without the key, gets: pg_dump as the superuser.
    const asSuperuser = new URL(infra.adminDatabaseUrl);
    asSuperuser.pathname = `/${database.name}`;
    const { stdout: dump } = await exec("pg_dump", ["--data-only", asSuperuser.href], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(dump).toContain("kiln-sealed:v1:");
    for (const secret of everySecret) expect(dump).not.toContain(secret);
    // The Opaque Secret's key names are stored in clear: they are what `kiln get secrets` shows.
    expect(dump).toContain("WebHookSecretKey");

    // The services that need them open them with the key.
    const bc = await getResource(db.db, "BuildConfig", "default", "app");
    expect(
      openBuildConfigSpec(bc!.spec as BuildConfigSpec, infra.secrets).triggers[0]!.github!.secret,
    ).toBe(webhookSecret);
    const stored = await getResource(db.db, "Secret", "default", "regcred");
    expect(
      openSecretSpec(stored!.spec as DockerConfigJsonSecretSpec, infra.secrets).dockerConfigJson,
    ).toBe(dockerConfig);
    const opaque = await getResource(db.db, "Secret", "default", "hook");
    expect(openSecretSpec(opaque!.spec as OpaqueSecretSpec, infra.secrets).data).toEqual({
      WebHookSecretKey: referencedSecret,
      token: opaqueToken,
    });
    expect(() =>
      openSecretSpec(stored!.spec as SecretSpec, SecretBox.fromKey(SecretBox.generateKey())),
    ).toThrow(/sealed with another key/);

    // The API shows neither, in any form.
    for (const url of [
      "/apis/v1/namespaces/default/buildconfigs/app",
      "/apis/v1/namespaces/default/buildconfigs",
      "/apis/v1/namespaces/default/secrets/regcred",
      "/apis/v1/namespaces/default/secrets/hook",
      "/apis/v1/namespaces/default/secrets",
    ]) {
      const res = await call("GET", url);
      expect(res.status).toBe(200);
      for (const secret of everySecret) expect(res.text).not.toContain(secret);
    }
    // An Opaque Secret shows its type and key names, every value redacted.
    expect(
      JSON.parse((await call("GET", "/apis/v1/namespaces/default/secrets/hook")).text),
    ).toMatchObject({
      kind: "Secret",
      type: "Opaque",
      data: { WebHookSecretKey: "(redacted)", token: "(redacted)" },
    });
    expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs/app")).text).toContain(
      '"secret":"(redacted)"',
    );
  } finally {
    await app.close();
    await bus.drain();
    await db.close();
  }
});

test("secrets an older Kiln stored in clear are sealed once by resealStoredSecrets, and nothing else changes", async ({
  infra,
  database,
}) => {
  const db = createDatabase(database.url);
  try {
    await db.db.insert(secretsTable).values({
      namespace: "default",
      name: "old",
      meta: {},
      spec: { type: "kubernetes.io/dockerconfigjson", dockerConfigJson: dockerConfig },
    });
    await db.db.insert(secretsTable).values({
      namespace: "default",
      name: "old-opaque",
      meta: {},
      spec: { type: "Opaque", data: { WebHookSecretKey: referencedSecret } },
    });
    await db.db.insert(buildConfigs).values({
      namespace: "default",
      name: "old",
      meta: {},
      spec: {
        ...(manifests.find((m) => m.kind === "BuildConfig")!.spec as unknown as BuildConfigSpec),
        runPolicy: "Serial",
      } as BuildConfigSpec,
    });
    expect(await resealStoredSecrets(db.db, infra.secrets)).toBe(3);
    expect(await resealStoredSecrets(db.db, infra.secrets)).toBe(0);
    const secret = (await db.db.select().from(secretsTable)).find((r) => r.name === "old");
    expect(JSON.stringify(secret!.spec)).not.toContain(auth);
    expect(secret!.resourceVersion).toBe(1);
    expect(
      openSecretSpec(secret!.spec as DockerConfigJsonSecretSpec, infra.secrets).dockerConfigJson,
    ).toBe(dockerConfig);
    const opaque = (await db.db.select().from(secretsTable)).find((r) => r.name === "old-opaque");
    expect(JSON.stringify(opaque!.spec)).not.toContain(referencedSecret);
    expect(JSON.stringify(opaque!.spec)).toContain("kiln-sealed:v1:");
    expect(opaque!.resourceVersion).toBe(1);
    expect(openSecretSpec(opaque!.spec as OpaqueSecretSpec, infra.secrets).data).toEqual({
      WebHookSecretKey: referencedSecret,
    });
    const bc = (await db.db.select().from(buildConfigs)).find((r) => r.name === "old");
    expect(JSON.stringify(bc!.spec)).not.toContain(webhookSecret);
    expect(openBuildConfigSpec(bc!.spec, infra.secrets).triggers[0]!.github!.secret).toBe(
      webhookSecret,
    );
  } finally {
    await db.close();
  }
});
