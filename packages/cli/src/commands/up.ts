import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { busNatsUsers, setUpBus } from "@kiln/bus";
import { createDatabase, resealStoredSecrets, runMigrations, SecretBox } from "@kiln/db";
import {
  DefaultPorts,
  assertPortsFree,
  buildBusyboxImage,
  describeExit,
  findBinaries,
  infrastructureStarts,
  kilnServiceLogFile,
  kilnServiceNames,
  kilnServiceStopTimeoutMs,
  kilnStopOrder,
  prepareKilnServiceDirs,
  readSupervisorStatus,
  startKilnService,
  Supervisor,
  supervisorRunning,
  supervisorStatusFile,
  type ManagedProcess,
  type PostgresServer,
  type RegistryServer,
  type StartKilnServicesOptions,
  type SupervisorEvent,
} from "@kiln/infra";
import { basicAuthOf } from "@kiln/registry";
import { runChecked } from "@kiln/runtime";
import { KilnClient } from "../client.js";
import { demoTemplates } from "../demo-templates.js";
import { formatEnvFile } from "../config.js";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { formatDuration } from "../output/time.js";
import { ensureBusSecrets } from "./bus-secrets.js";
import { installRoot } from "../repo-root.js";
import { resolveStateDir } from "../state-dir.js";

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
/**
 * NATS, PostgreSQL and the registry stop within a second or two (PostgreSQL's fast shutdown
 * writes a checkpoint first); SIGKILL only for one that hangs.
 */
const infraStopTimeoutMs = 30_000;
/** Registry notifications go to the image-watcher's HTTP server (it also serves its /healthz there). */
const registryNotificationPath = "/registry/notifications";
/** Lines of a failing process's log shown with each restart. */
const restartLogLines = 15;

/**
 * `kiln up`: real NATS, PostgreSQL and a registry as local processes, then the six services,
 * until Ctrl-C, supervised: whatever exits is started again (see {@link Supervisor}), one that
 * keeps failing stops Kiln with its reason. Everything lives under one state directory so
 * `rm -rf .kiln` is a full reset; `<state dir>/status.json` is what `kiln status` reads.
 */
export async function upCommand(ctx: CommandContext, options: UpOptions): Promise<void> {
  const say = (line: string) => ctx.out(`${line}\n`);
  const cwd = ctx.io.cwd;
  const stateDir = resolveStateDir(cwd, options.stateDir);
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
    apiMetrics: ports.api + (DefaultPorts.apiMetrics - DefaultPorts.api),
    webhookMetrics: ports.api + (DefaultPorts.webhookMetrics - DefaultPorts.api),
    imageWatcherMetrics: ports.api + (DefaultPorts.imageWatcherMetrics - DefaultPorts.api),
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
  const statusFile = supervisorStatusFile(stateDir);
  // Two `kiln up` on one state dir would share PostgreSQL's data dir (the second fails) and
  // overwrite each other's status: said before anything else.
  const earlier = await readSupervisorStatus(statusFile).catch(() => null);
  if (earlier !== null && earlier.pid !== process.pid && supervisorRunning(earlier)) {
    throw new UsageError(
      `kiln up is already running with the state dir ${stateDir} (pid ${earlier.pid}); \`kiln status\` shows it`,
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
      ...(["apiMetrics", "webhookMetrics", "imageWatcherMetrics"] as const).map((key) => ({
        port: healthPorts[key],
        what: `${key.replace("Metrics", "")} /metrics`,
        hint: "--api-port (metrics ports follow it)",
      })),
    ],
    host,
  );

  const logsDir = join(stateDir, "logs");
  await mkdir(logsDir, { recursive: true });
  const token = await ensureToken(join(stateDir, "token"));
  const bus = await ensureBusSecrets(stateDir);
  const starts = infrastructureStarts({
    stateDir,
    host,
    ports: { nats: ports.nats, postgres: ports.postgres, registry: ports.registry },
    natsUsers: busNatsUsers(bus.credentials, "kiln"),
    notificationUrl: `http://${host}:${healthPorts.imageWatcherHealth}${registryNotificationPath}`,
    notificationToken: bus.notificationToken,
  });

  const stop = new StopSignal(ctx);
  const supervisor = new Supervisor({
    statusFile,
    logTailLines: restartLogLines,
    onEvent: (event) => report(ctx, event),
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      say("stopping Kiln: intake, runners, the other services, then registry, nats, postgres");
      await supervisor.stop(kilnStopOrder);
      say("stopped");
    })());

  try {
    say(`starting nats, postgres and the registry under ${stateDir} ...`);
    // Each start is what a restart runs again: the server with the same config and data dir,
    // and whatever it needs before anyone uses it (NATS: Kiln's streams, made by `admin`
    // before any service connects, since no service may create one).
    const nats = await startSupervised(supervisor, "nats", join(logsDir, "nats.log"), async () => {
      const server = await starts.nats();
      try {
        await setUpBus({ servers: server.url, adminSeed: bus.credentials.admin });
      } catch (error) {
        await server.stop();
        throw error;
      }
      return server;
    });
    if (stop.requested) return await shutdown();
    const postgres: PostgresServer = await startSupervised(
      supervisor,
      "postgres",
      join(logsDir, "postgres.log"),
      () => starts.postgres(),
    );
    if (stop.requested) return await shutdown();
    const registryServer: RegistryServer = await startSupervised(
      supervisor,
      "registry",
      join(logsDir, "registry.log"),
      () => starts.registry(),
    );
    if (stop.requested) return await shutdown();

    say("running database migrations...");
    await runMigrations(postgres.url);
    await sealSecretsStoredInClear(postgres.url, bus.secretsKey, say);

    const registry = registryServer.address;
    // The registry always starts with Kiln's account and its auth file.
    const registryCredentials = registryServer.credentials ?? undefined;
    const registryAuthFile = registryServer.authFile ?? "";
    const serviceOptions: StartKilnServicesOptions = {
      servicesDir,
      natsUrl: nats.url,
      databaseUrl: postgres.url,
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
    };
    await prepareKilnServiceDirs(serviceOptions);
    say(`starting ${kilnServiceNames.join(", ")} ...`);
    // All at once (spawned in start order, workers first): each is ready when its /healthz answers.
    await Promise.all(
      kilnServiceNames.map((name) =>
        supervisor.add({
          name,
          logFile: kilnServiceLogFile(serviceOptions, name),
          stopTimeoutMs: kilnServiceStopTimeoutMs,
          start: () => startKilnService(serviceOptions, name),
        }),
      ),
    );
    const apiUrl = `http://${host}:${ports.api}`;
    if (stop.requested) return await shutdown();

    const envFile = join(stateDir, "env");
    await writeEnvFile(envFile, {
      KILN_API_URL: apiUrl,
      KILN_WEBHOOK_URL: `http://${host}:${ports.webhook}`,
      KILN_REGISTRY: registry,
      // buildah, skopeo and podman read it: `set -a; . .kiln/env` and they push to Kiln's registry.
      REGISTRY_AUTH_FILE: registryAuthFile,
      KILN_TOKEN: token,
      NATS_URL: nats.url,
      DATABASE_URL: postgres.url,
    });

    let demoLine = "try: npx kiln apply -f examples/hello/buildconfig.yaml";
    if (options.demo) {
      say("setting up the demo (base image, builder templates, git repo, BuildConfig hello)...");
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
        `  console      ${apiUrl}/console/ (log in with KILN_TOKEN from the env file)`,
        `  webhooks     http://${host}:${ports.webhook}`,
        `  registry     ${registry} (wants Kiln's account: REGISTRY_AUTH_FILE in the env file)`,
        `  nats         ${nats.url}`,
        `  postgres     ${withoutPassword(postgres.url)} (password in the env file)`,
        `  state dir    ${stateDir}`,
        `  logs         ${logsDir}`,
        `  env file     ${envFile} (read by kiln; \`set -a; . ${envFile}\` for other tools)`,
        "",
        demoLine,
        "Whatever exits is started again; `kiln status` lists every process.",
        "Press Ctrl-C to stop.",
      ].join("\n"),
    );

    const failure = await Promise.race([stop.wait().then(() => undefined), supervisor.gaveUp]);
    await shutdown();
    // Exits non-zero naming the process, how it last ended and the end of its log.
    if (failure !== undefined) throw failure;
  } catch (err) {
    await shutdown().catch(() => undefined);
    throw err;
  } finally {
    stop.dispose();
  }
}

/**
 * Starts one of the servers under the supervisor and hands back what its start made (its URL,
 * its account); a restart makes the same, since it runs with the same options.
 */
async function startSupervised<S extends { process: ManagedProcess }>(
  supervisor: Supervisor,
  name: string,
  logFile: string,
  start: () => Promise<S>,
): Promise<S> {
  let first: S | undefined;
  await supervisor.add({
    name,
    logFile,
    stopTimeoutMs: infraStopTimeoutMs,
    start: async () => {
      const server = await start();
      first ??= server;
      return server.process;
    },
  });
  return first!;
}

/** One event of the supervisor, as the terminal shows it: what happened, why, and what comes next. */
function report(ctx: CommandContext, event: SupervisorEvent): void {
  const indent = (text: string) =>
    text
      .trimEnd()
      .split("\n")
      .map((line) => `    ${line}\n`)
      .join("");
  switch (event.type) {
    case "exited": {
      ctx.err(
        `${event.name} exited (${describeExit(event.exit)}) after ${formatDuration(event.ranMs)}; starting it again in ${formatDuration(event.restartInMs)}\n`,
      );
      if (event.logTail.trim() !== "")
        ctx.err(`  last lines of ${event.logFile ?? "its log"}:\n${indent(event.logTail)}`);
      return;
    }
    case "start-failed": {
      const message = event.error instanceof Error ? event.error.message : String(event.error);
      ctx.err(
        `${event.name} did not start again; trying again in ${formatDuration(event.restartInMs)}:\n${indent(message)}`,
      );
      return;
    }
    case "restarted":
      ctx.err(`${event.name} is running again (pid ${event.pid}, restart ${event.restarts})\n`);
      return;
    case "gave-up":
      ctx.err(`${event.error.process} keeps failing (${event.error.lastFailure}); stopping Kiln\n`);
      return;
    case "stopping":
      ctx.out(`stopping ${event.names.join(", ")} ...\n`);
      return;
    case "stopped": {
      const killed = event.exit.signal === "SIGKILL";
      ctx.out(
        `  ${event.name} stopped (${describeExit(event.exit)}${killed ? ": it outlived its stop timeout" : ""}) in ${formatDuration(event.durationMs)}\n`,
      );
      return;
    }
    default:
      assertNever(event);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`);
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
        `got ${signal} again: still stopping (each service gets ${kilnServiceStopTimeoutMs / 1000}s); once more to force\n`,
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
  // Builder templates for `kiln new-build`, shared with every namespace.
  await client.apply(
    await demoTemplates({
      registry: o.registry,
      buildah: o.buildah,
      storageDir: demoDir,
      authFile: o.registryAuthFile,
      exists: (repository, tag) =>
        imageExists(o.registry, o.registryAuthorization, repository, tag),
    }),
  );
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
    GIT_AUTHOR_NAME: "Kiln Demo",
    GIT_AUTHOR_EMAIL: "demo@kiln.invalid",
    GIT_COMMITTER_NAME: "Kiln Demo",
    GIT_COMMITTER_EMAIL: "demo@kiln.invalid",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_NOSYSTEM: "1",
  };
  const run = (...args: string[]) => runChecked(git, args, { cwd: dir, env });
  await run("init", "--quiet", "--initial-branch=main");
  await run("add", "--all");
  await run("commit", "--quiet", "--message", "hello from kiln");
}
