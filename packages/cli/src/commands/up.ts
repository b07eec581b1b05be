import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { busNatsUsers, setUpBus } from "@kiln/bus";
import { createDatabase, resealStoredSecrets, runMigrations, SecretBox } from "@kiln/db";
import {
  DefaultPorts,
  buildBusyboxImage,
  kilnServiceNames,
  startKilnServices,
  type KilnServices,
  assertPortsFree,
  findBinaries,
  startInfrastructure,
  type Infrastructure,
  type ManagedProcess,
} from "@kiln/infra";
import { basicAuthOf } from "@kiln/registry";
import { KilnClient } from "../client.js";
import { formatEnvFile } from "../config.js";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { ensureBusSecrets } from "./bus-secrets.js";
import { findRepoRoot, installRoot } from "../repo-root.js";

const execFileAsync = promisify(execFile);

export interface UpOptions {
  stateDir?: string;
  natsPort?: number;
  postgresPort?: number;
  registryPort?: number;
  apiPort?: number;
  webhookPort?: number;
  demo?: boolean;
}

const host = "127.0.0.1";
/** Matches the services' own shutdown grace (R5), after which ManagedProcess SIGKILLs the group. */
const serviceStopTimeoutMs = 10_000;
/** Registry notifications go to the image-watcher's HTTP server (it also serves its /healthz there). */
const registryNotificationPath = "/registry/notifications";

/**
 * `kiln up`: real NATS, PostgreSQL and a registry as local processes, then the six services,
 * until Ctrl-C. Everything lives under one state directory so `rm -rf .kiln` is a full reset.
 */
export async function upCommand(ctx: CommandContext, options: UpOptions): Promise<void> {
  const say = (line: string) => ctx.out(`${line}\n`);
  const cwd = ctx.io.cwd;
  const repoRoot = findRepoRoot(cwd) ?? cwd;
  const stateDir = resolve(cwd, options.stateDir ?? join(repoRoot, ".kiln"));
  const code = installRoot();
  const ports = {
    nats: options.natsPort ?? DefaultPorts.nats,
    postgres: options.postgresPort ?? DefaultPorts.postgres,
    registry: options.registryPort ?? DefaultPorts.registry,
    api: options.apiPort ?? DefaultPorts.api,
    webhook: options.webhookPort ?? DefaultPorts.webhook,
  };
  // The workers' /healthz ports follow the api port (18080 → 18082…18085), so moving one
  // `kiln up` beside another needs only --api-port.
  const healthPorts = {
    schedulerHealth: ports.api + (DefaultPorts.schedulerHealth - DefaultPorts.api),
    buildRunnerHealth: ports.api + (DefaultPorts.buildRunnerHealth - DefaultPorts.api),
    imageWatcherHealth: ports.api + (DefaultPorts.imageWatcherHealth - DefaultPorts.api),
    deployerHealth: ports.api + (DefaultPorts.deployerHealth - DefaultPorts.api),
  };

  // Every check that can fail runs before anything starts, so a failed `kiln up` leaves nothing behind.
  // KILN_SERVICES_DIR points `up` at another services tree (stub services in end-to-end tests of `up` itself).
  const servicesDir = resolve(cwd, ctx.io.env.KILN_SERVICES_DIR ?? join(code, "services"));
  const entries = kilnServiceNames.map((name) => ({
    name,
    entry: join(servicesDir, name, "src", "main.ts"),
  }));
  const missing = entries.filter((e) => !existsSync(e.entry));
  if (missing.length > 0) {
    throw new UsageError(
      `service entry points not found: ${missing.map((e) => e.entry).join(", ")}`,
    );
  }
  const binaries = findBinaries(["natsServer", "postgres", "initdb", "registry", "buildah", "git"]);
  await assertPortsFree(
    [
      { port: ports.nats, what: "nats", hint: "--nats-port" },
      { port: ports.postgres, what: "postgres", hint: "--postgres-port" },
      { port: ports.registry, what: "registry", hint: "--registry-port" },
      { port: ports.api, what: "api", hint: "--api-port" },
      { port: ports.webhook, what: "webhook-receiver", hint: "--webhook-port" },
      // Health endpoints of the workers: fixed, so a second `kiln up` is told plainly.
      {
        port: healthPorts.schedulerHealth,
        what: "scheduler /healthz",
        hint: "--api-port (health ports follow it)",
      },
      {
        port: healthPorts.buildRunnerHealth,
        what: "build-runner /healthz",
        hint: "--api-port (health ports follow it)",
      },
      {
        port: healthPorts.imageWatcherHealth,
        what: "image-watcher /healthz",
        hint: "--api-port (health ports follow it)",
      },
      {
        port: healthPorts.deployerHealth,
        what: "deployer /healthz",
        hint: "--api-port (health ports follow it)",
      },
    ],
    host,
  );

  const logsDir = join(stateDir, "logs");
  await mkdir(logsDir, { recursive: true });
  const token = await ensureToken(join(stateDir, "token"));
  const bus = await ensureBusSecrets(stateDir);

  const stop = new StopSignal(ctx);
  let infra: Infrastructure | undefined;
  let services: KilnServices | undefined;
  const shutdown = async () => {
    if (!services && !infra) return;
    if (services) {
      say("stopping services...");
      await services.stop({ timeoutMs: serviceStopTimeoutMs });
      services = undefined;
    }
    if (infra) {
      say("stopping registry, postgres and nats...");
      await infra.stop();
      infra = undefined;
    }
    say("stopped");
  };

  try {
    say(`starting nats, postgres and the registry under ${stateDir} ...`);
    infra = await startInfrastructure({
      stateDir,
      host,
      ports: { nats: ports.nats, postgres: ports.postgres, registry: ports.registry },
      natsUsers: busNatsUsers(bus.credentials, "kiln"),
      notificationUrl: `http://${host}:${healthPorts.imageWatcherHealth}${registryNotificationPath}`,
      notificationToken: bus.notificationToken,
    });
    if (stop.requested) return await shutdown();

    say("running database migrations...");
    await runMigrations(infra.databaseUrl);
    await sealSecretsStoredInClear(infra.databaseUrl, bus.secretsKey, say);
    await setUpBus({ servers: infra.natsUrl, adminSeed: bus.credentials.admin });

    const registry = infra.registry.address;
    // startInfrastructure always starts the registry with Kiln's account and its auth file.
    const registryCredentials = infra.registry.credentials ?? undefined;
    const registryAuthFile = infra.registry.authFile ?? "";
    say(`starting ${kilnServiceNames.join(", ")} ...`);
    services = await startKilnServices({
      servicesDir,
      natsUrl: infra.natsUrl,
      databaseUrl: infra.databaseUrl,
      registry,
      registryCredentials,
      apiToken: token,
      notificationToken: bus.notificationToken,
      natsSeeds: bus.credentials,
      sealingKeys: bus.sealingKeys,
      secretsKey: bus.secretsKey,
      ports: { api: ports.api, webhook: ports.webhook, ...healthPorts },
      // The build user's (the runner becomes it when `kiln up` runs as root): work dirs and the
      // rootless image store, with the layer cache that outlives builds.
      workDir: join(stateDir, "builds", "work"),
      buildahStorageDir: join(stateDir, "builds", "storage"),
      logsDir,
      extraEnv: { KILN_STATE_DIR: stateDir },
    });
    const apiUrl = services.apiUrl;
    if (stop.requested) return await shutdown();

    const envFile = join(stateDir, "env");
    await writeEnvFile(envFile, {
      KILN_API_URL: apiUrl,
      KILN_WEBHOOK_URL: `http://${host}:${ports.webhook}`,
      KILN_REGISTRY: registry,
      // buildah, skopeo and podman read it: `set -a; . .kiln/env` and they push to Kiln's registry.
      REGISTRY_AUTH_FILE: registryAuthFile,
      KILN_TOKEN: token,
      NATS_URL: infra.natsUrl,
      DATABASE_URL: infra.databaseUrl,
    });

    let demoLine = "try: npx kiln apply -f examples/hello/buildconfig.yaml";
    if (options.demo) {
      say("setting up the demo (base image, git repo, BuildConfig hello)...");
      await setUpDemo({
        stateDir,
        registry,
        registryAuthFile,
        registryAuthorization: registryCredentials
          ? `Basic ${basicAuthOf(registryCredentials)}`
          : undefined,
        apiUrl,
        token,
        buildah: binaries.buildah,
        git: binaries.git,
        namespace: ctx.namespace(undefined),
      });
      demoLine = "try: npx kiln start-build hello --follow";
    }

    say(
      [
        "",
        "Kiln is up.",
        `  API          ${apiUrl}`,
        `  webhooks     http://${host}:${ports.webhook}`,
        `  registry     ${registry} (wants Kiln's account: REGISTRY_AUTH_FILE in the env file)`,
        `  nats         ${infra.natsUrl}`,
        `  postgres     ${withoutPassword(infra.databaseUrl)} (password in the env file)`,
        `  state dir    ${stateDir}`,
        `  logs         ${logsDir}`,
        `  env file     ${envFile} (read by kiln; \`set -a; . ${envFile}\` for other tools)`,
        "",
        demoLine,
        "Press Ctrl-C to stop.",
      ].join("\n"),
    );

    watchForCrashes(ctx, [...services.processes.values()], stop);
    await stop.wait();
    await shutdown();
  } catch (err) {
    await shutdown().catch(() => undefined);
    throw err;
  } finally {
    stop.dispose();
  }
}

/** The URL to show on the terminal: the password stays in the 0600 env and password files. */
function withoutPassword(url: string): string {
  const shown = new URL(url);
  shown.password = "";
  return shown.toString();
}

/** Secrets a Kiln from before encryption at rest stored in clear are sealed once, here. */
async function sealSecretsStoredInClear(
  databaseUrl: string,
  key: string,
  say: (line: string) => void,
): Promise<void> {
  const database = createDatabase(databaseUrl, { max: 1 });
  try {
    const sealed = await resealStoredSecrets(database.db, SecretBox.fromKey(key));
    if (sealed > 0) say(`sealed ${sealed} stored secret(s) kept in clear by an older Kiln`);
  } finally {
    await database.close();
  }
}

/** SIGINT/SIGTERM as a promise; a third signal gives up on a clean stop. */
class StopSignal {
  requested = false;
  private count = 0;
  private resolveWait!: () => void;
  private readonly waiting = new Promise<void>((r) => (this.resolveWait = r));
  private readonly handler = (signal: NodeJS.Signals) => {
    this.count += 1;
    this.requested = true;
    this.resolveWait();
    if (this.count === 2)
      this.ctx.err(
        `got ${signal} again: still stopping (services get ${serviceStopTimeoutMs / 1000}s); once more to force\n`,
      );
    // ManagedProcess's exit hook still signals every child on the way out.
    if (this.count >= 3) process.exit(130);
  };

  constructor(private readonly ctx: CommandContext) {
    process.on("SIGINT", this.handler);
    process.on("SIGTERM", this.handler);
  }

  wait(): Promise<void> {
    return this.waiting;
  }

  dispose(): void {
    process.off("SIGINT", this.handler);
    process.off("SIGTERM", this.handler);
  }
}

/** The token is made once and reused, so env files and webhooks configured earlier keep working. */
async function ensureToken(file: string): Promise<string> {
  try {
    const existing = (await readFile(file, "utf8")).trim();
    if (existing) return existing;
  } catch {
    // First run.
  }
  const token = randomBytes(32).toString("hex");
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}

async function writeEnvFile(file: string, values: Record<string, string>): Promise<void> {
  // It holds the API token: owner-only, like the token file.
  await writeFile(file, formatEnvFile(values), { mode: 0o600 });
  await chmod(file, 0o600);
}

/** A service that dies while Kiln is up is reported, not restarted: its log says why. */
function watchForCrashes(
  ctx: CommandContext,
  procs: readonly ManagedProcess[],
  stop: StopSignal,
): void {
  for (const p of procs) {
    void p.exited.then((exit) => {
      if (stop.requested) return;
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      ctx.err(`warning: ${p.name} exited (${how}); see ${p.logFile ?? "its log"}\n`);
    });
  }
}

interface DemoOptions {
  stateDir: string;
  registry: string;
  /** Kiln's account in `registry`: a docker config JSON file for buildah, a header for fetch. */
  registryAuthFile: string;
  registryAuthorization: string | undefined;
  apiUrl: string;
  token: string;
  buildah: string;
  git: string;
  namespace: string;
}

/** `kiln up --demo`: a base image in the local registry, a git repo using it, and a BuildConfig for it. */
async function setUpDemo(o: DemoOptions): Promise<void> {
  const demoDir = join(o.stateDir, "demo");
  const baseImage = `${o.registry}/base/busybox:latest`;
  if (!(await imageExists(o.registry, o.registryAuthorization, "base/busybox", "latest"))) {
    await buildBusyboxImage({
      buildah: o.buildah,
      storageDir: join(demoDir, "buildah"),
      ref: baseImage,
      authFile: o.registryAuthFile,
    });
  }
  const repo = join(demoDir, "hello");
  if (!existsSync(join(repo, ".git"))) await makeDemoRepo(o.git, repo, baseImage);

  const client = new KilnClient({ baseUrl: o.apiUrl, token: o.token });
  await client.apply([
    {
      apiVersion: "kiln.dev/v1",
      kind: "ImageStream",
      metadata: { name: "hello", namespace: o.namespace },
      spec: {},
    },
    {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "hello", namespace: o.namespace },
      spec: {
        source: { type: "Git", git: { uri: pathToFileURL(repo).href, ref: "main" } },
        strategy: { type: "Docker", dockerStrategy: {} },
        output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
      },
    },
  ]);
}

async function imageExists(
  registry: string,
  authorization: string | undefined,
  repository: string,
  tag: string,
): Promise<boolean> {
  try {
    const res = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, {
      method: "HEAD",
      headers: {
        ...(authorization ? { authorization } : {}),
        accept:
          "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
      },
      signal: AbortSignal.timeout(5000),
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function makeDemoRepo(git: string, dir: string, baseImage: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "Dockerfile"),
    [
      `FROM ${baseImage}`,
      "COPY message.txt /message.txt",
      `CMD ["echo","hello from kiln"]`,
      "",
    ].join("\n"),
  );
  await writeFile(join(dir, "message.txt"), "hello from kiln\n");
  // A fixed identity: the user's git config may not have one, and commit signing must not prompt.
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "Kiln Demo",
    GIT_AUTHOR_EMAIL: "demo@kiln.invalid",
    GIT_COMMITTER_NAME: "Kiln Demo",
    GIT_COMMITTER_EMAIL: "demo@kiln.invalid",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_NOSYSTEM: "1",
  };
  const run = (...args: string[]) => execFileAsync(git, args, { cwd: dir, env });
  await run("init", "--quiet", "--initial-branch=main");
  await run("add", "--all");
  await run("commit", "--quiet", "--message", "hello from kiln");
}
