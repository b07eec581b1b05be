import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { chmod, lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { freePort } from "@kiln/infra";
import { afterEach, expect, test } from "vitest";
import { kiln } from "../support/cli.js";
import { repoRoot } from "../support/kiln-services.js";

/**
 * `kiln up` for real, used with every kind of secret Kiln has (its API token, the bus's NKey
 * seeds, the runners' sealing key, the key of secrets at rest, the database's passwords, a
 * registry Secret, a webhook secret, in a URL path and as a signature key), then stopped. Every
 * file under the state dir is read: the ones meant to hold a secret are the owner's alone, and
 * no other file (the logs of every process, NATS's and PostgreSQL's data, the build store)
 * holds any of those secrets.
 */
const kilnBin = join(repoRoot, "packages", "cli", "bin", "kiln.mjs");
const webhookSecret = "hook-secret-c0ffee-never-logged";
const registryPassword = "reg-pw-5eeded-never-logged";
const registryAuth = Buffer.from(`ci:${registryPassword}`).toString("base64");

/** Files that hold a secret by design, relative to the state dir. */
const secretFiles = [
  /^token$/,
  /^env$/,
  /^secrets\//,
  /^postgres-(superuser|kiln)\.password$/,
  // The registry's account, and its config: it holds the notifications' bearer token.
  /^registry\/(htpasswd|auth\.json|password|config\.yml)$/,
];

let up: ChildProcess | undefined;
let workDir: string | undefined;
afterEach(async () => {
  if (up && up.exitCode === null) {
    up.kill("SIGINT");
    await new Promise((r) => up!.once("exit", r));
  }
  up = undefined;
  if (workDir && process.env.KILN_KEEP_TEST_STATE === undefined)
    await rm(workDir, { recursive: true, force: true });
});

async function startKilnUp(stateDir: string): Promise<{ output: () => string }> {
  const ports = {
    nats: await freePort(),
    postgres: await freePort(),
    registry: await freePort(),
    api: await freePort(),
    webhook: await freePort(),
  };
  let output = "";
  up = spawn(
    process.execPath,
    [
      kilnBin,
      "up",
      "--demo",
      "--state-dir",
      stateDir,
      "--nats-port",
      String(ports.nats),
      "--postgres-port",
      String(ports.postgres),
      "--registry-port",
      String(ports.registry),
      "--api-port",
      String(ports.api),
      "--webhook-port",
      String(ports.webhook),
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  up.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  up.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 170_000;
  while (!output.includes("Kiln is up.")) {
    if (up.exitCode !== null) throw new Error(`kiln up exited ${up.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`kiln up did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { output: () => output };
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1");
  }
  return env;
}

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** The secrets a file that keeps them holds, by what the file is. */
function secretsOf(file: string, text: string): string[] {
  const json = () => JSON.parse(text) as Record<string, unknown>;
  switch (file) {
    case "env": {
      const env = parseEnvFile(text);
      return [env.KILN_TOKEN!, decodeURIComponent(new URL(env.DATABASE_URL!).password)];
    }
    case "secrets/nats-credentials.json":
      return Object.values(json()) as string[];
    case "secrets/runner-sealing-keys.json":
      // The private part of the JWK; the public key may be seen.
      return [(JSON.parse(json().privateKey as string) as { d: string }).d];
    case "registry/auth.json":
      return Object.values(json().auths as Record<string, { auth: string }>).map((a) => a.auth);
    case "registry/htpasswd":
    case "registry/config.yml":
      // A bcrypt hash; the notification token, which has its own file.
      return [];
    default:
      return [text.trim()];
  }
}

test("no secret of a kiln up run reaches a log or any file but the owner-only ones that keep it", async () => {
  workDir = await mkdtemp(join(tmpdir(), "kiln-secrets-"));
  // As root, PostgreSQL runs as the postgres user and must pass through.
  await chmod(workDir, 0o711);
  const stateDir = join(workDir, "state");
  const { output } = await startKilnUp(stateDir);
  const env = parseEnvFile(await readFile(join(stateDir, "env"), "utf8"));
  const cli = (...args: string[]) => kiln(env, ...args);

  // A registry Secret, a BuildConfig using it and a webhook secret: the demo's source, built.
  const bc = JSON.parse((await cli("get", "bc", "hello", "-o", "json")).stdout) as {
    spec: Record<string, unknown>;
  };
  const manifest = join(workDir, "secrets.json");
  const { writeFile } = await import("node:fs/promises");
  await writeFile(
    manifest,
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "regcred" },
          type: "kubernetes.io/dockerconfigjson",
          stringData: {
            ".dockerconfigjson": JSON.stringify({
              auths: { "registry.example.invalid": { auth: registryAuth } },
            }),
          },
        },
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "secretive" },
          spec: {
            ...bc.spec,
            strategy: { type: "Docker", dockerStrategy: { pullSecret: { name: "regcred" } } },
            output: { to: { kind: "ImageStreamTag", name: "secretive:latest" } },
            triggers: [
              { type: "Generic", generic: { secret: webhookSecret } },
              { type: "GitHub", github: { secret: webhookSecret } },
            ],
          },
        },
      ],
    }),
  );
  expect((await cli("apply", "-f", manifest)).code).toBe(0);
  const built = await cli("start-build", "secretive", "--follow");
  expect(built.stdout).toContain("Pushed ");
  expect(built.code).toBe(0);

  // The secret in an OpenShift URL path: once wrong, once right; and as a signature key.
  const hooks = `${env.KILN_WEBHOOK_URL}/apis/build.openshift.io/v1/namespaces/default/buildconfigs/secretive/webhooks`;
  const wrong = await fetch(`${hooks}/${webhookSecret}-wrong/generic`, { method: "POST" });
  expect(wrong.status).toBe(401);
  const right = await fetch(`${hooks}/${webhookSecret}/generic`, { method: "POST" });
  expect(right.status).toBeLessThan(300);
  const body = JSON.stringify({ ref: "refs/heads/nope", after: "0".repeat(40) });
  const signed = await fetch(`${env.KILN_WEBHOOK_URL}/hooks/default/secretive/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": "d-1",
      "x-hub-signature-256": `sha256=${createHmac("sha256", webhookSecret).update(body).digest("hex")}`,
    },
    body,
  });
  expect(signed.status).toBeLessThan(300);

  up!.kill("SIGINT");
  await new Promise((r) => up!.once("exit", r));
  expect(output()).toContain("stopped");

  const files = await filesBelow(stateDir);
  const holders = files.filter((f) => secretFiles.some((re) => re.test(relative(stateDir, f))));
  const secrets = new Set([webhookSecret, registryPassword, registryAuth]);
  for (const file of holders) {
    expect(
      (await lstat(file)).mode & 0o077,
      `${relative(stateDir, file)} is the owner's alone`,
    ).toBe(0);
    for (const s of secretsOf(relative(stateDir, file), await readFile(file, "utf8")))
      secrets.add(s);
  }
  // The run had every kind: token, 8 seeds, the sealing key, the secrets key, 2 database
  // passwords, the registry's password and the notifications' token.
  expect(holders.map((f) => relative(stateDir, f))).toEqual(
    expect.arrayContaining([
      "token",
      "env",
      "secrets/nats-credentials.json",
      "secrets/runner-sealing-keys.json",
      "secrets/secrets-key",
      "postgres-kiln.password",
      "postgres-superuser.password",
      "secrets/registry-notification-token",
      "registry/password",
    ]),
  );
  expect(secrets.size).toBeGreaterThanOrEqual(3 + 1 + 8 + 1 + 1 + 2 + 2);

  const leaks: string[] = [];
  for (const file of files) {
    if (holders.includes(file)) continue;
    const text = await readFile(file, "latin1").catch(() => "");
    for (const secret of secrets)
      if (text.includes(secret)) leaks.push(`${relative(stateDir, file)}: ${secret.slice(0, 6)}…`);
  }
  expect(leaks).toEqual([]);
  // The logs were there to read: the services' and the servers'.
  const logs = files.filter((f) => relative(stateDir, f).startsWith("logs/"));
  expect(logs.map((f) => relative(stateDir, f))).toEqual(
    expect.arrayContaining(["logs/api.log", "logs/webhook-receiver.log", "logs/nats.log"]),
  );
});
