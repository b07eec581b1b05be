import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { BasicCredentials } from "@kiln/registry";
import { findBinaries } from "./binaries.js";
import { startNats, type NatsServer, type NatsServerUser } from "./nats.js";
import { assertPortsFree } from "./ports.js";
import { startPostgres, type PostgresServer } from "./postgres.js";
import { startRegistry, type RegistryServer } from "./registry.js";
import { ensureRegistryCredentials } from "./registry-auth.js";

export type StartInfrastructureOptions = {
  /** Directory holding all data and logs (`kiln up` uses `.kiln/`). */
  stateDir: string;
  /** @default "127.0.0.1" */
  host?: string;
  ports: { nats: number; postgres: number; registry: number };
  /** Flags shown when a port is busy. @default `--nats-port`, `--postgres-port`, `--registry-port` */
  portHints?: { nats?: string; postgres?: string; registry?: string };
  /** Where the registry sends notifications (see `startRegistry`). */
  notificationUrl?: string;
  notificationToken?: string;
  /** NATS's only users (see `startNats`); anonymous clients are refused. */
  natsUsers?: readonly NatsServerUser[];
  /** Faster, non-durable postgres, for tests. @default false */
  fast?: boolean;
};

export type Infrastructure = {
  natsUrl: string;
  databaseUrl: string;
  nats: NatsServer;
  postgres: PostgresServer;
  /** Requires Kiln's account (`registry.credentials`; `registry.authFile` for buildah, skopeo, podman). */
  registry: RegistryServer;
  /** Stops registry, postgres, then nats. Idempotent. */
  stop(): Promise<void>;
};

/** How to start each server; the same options every time, so a restart is a start like the first. */
export type InfrastructureStarts = {
  nats(): Promise<NatsServer>;
  postgres(): Promise<PostgresServer>;
  registry(): Promise<RegistryServer>;
};

/**
 * The starts of NATS, PostgreSQL and the registry under `stateDir`. The programs are found at
 * once (every missing one in one error); the registry's account is made or read by its first
 * start and kept. Each start
 * writes its server's config again and prepares its data dir as the first did (NATS with the
 * same users, PostgreSQL on the same cluster, the registry with the same config), and fails
 * with `PortInUseError` when its port is taken.
 */
export function infrastructureStarts(options: StartInfrastructureOptions): InfrastructureStarts {
  const host = options.host ?? "127.0.0.1";
  const hints = options.portHints ?? {};
  const bin = findBinaries(["natsServer", "postgres", "initdb", "registry"]);
  let credentials: Promise<BasicCredentials> | undefined;
  const registryCredentials = async () => {
    const registryDir = join(options.stateDir, "registry");
    await mkdir(registryDir, { recursive: true, mode: 0o700 });
    return ensureRegistryCredentials(registryDir);
  };
  return {
    nats: () =>
      startNats({
        stateDir: options.stateDir,
        host,
        port: options.ports.nats,
        binary: bin.natsServer,
        ...(options.natsUsers === undefined ? {} : { users: options.natsUsers }),
        ...(hints.nats === undefined ? {} : { portHint: hints.nats }),
      }),
    postgres: () =>
      startPostgres({
        stateDir: options.stateDir,
        host,
        port: options.ports.postgres,
        binaries: { postgres: bin.postgres, initdb: bin.initdb },
        fast: options.fast ?? false,
        ...(hints.postgres === undefined ? {} : { portHint: hints.postgres }),
      }),
    registry: async () =>
      startRegistry({
        stateDir: options.stateDir,
        host,
        port: options.ports.registry,
        binary: bin.registry,
        // A failed read (a full disk) is tried again by the next start.
        credentials: await (credentials ??= registryCredentials().catch((err: unknown) => {
          credentials = undefined;
          throw err;
        })),
        ...(options.notificationUrl === undefined
          ? {}
          : { notificationUrl: options.notificationUrl }),
        ...(options.notificationToken === undefined
          ? {}
          : { notificationToken: options.notificationToken }),
        ...(hints.registry === undefined ? {} : { portHint: hints.registry }),
      }),
  };
}

/**
 * Starts NATS (JetStream), PostgreSQL and the registry on loopback under `stateDir`. The
 * registry takes no anonymous request: Kiln's account (`ensureRegistryCredentials`) or a 401,
 * so another local user can neither push a tag that an ImageStream follows nor pull.
 * Every missing program and every busy port is reported in one error before anything starts;
 * when a server fails halfway, those already running are stopped again.
 */
export async function startInfrastructure(
  options: StartInfrastructureOptions,
): Promise<Infrastructure> {
  const host = options.host ?? "127.0.0.1";
  const hints = options.portHints ?? {};
  const starts = infrastructureStarts(options);
  await assertPortsFree(
    [
      { port: options.ports.nats, what: "nats", hint: hints.nats ?? "--nats-port" },
      { port: options.ports.postgres, what: "postgres", hint: hints.postgres ?? "--postgres-port" },
      { port: options.ports.registry, what: "registry", hint: hints.registry ?? "--registry-port" },
    ],
    host,
  );

  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    // Reverse start order; allSettled so one stubborn server does not keep the others running.
    for (const server of started.splice(0).reverse()) {
      await Promise.allSettled([server.stop()]);
    }
  };
  try {
    // One after the other: two cores, and postgres' initdb is the only slow step anyway.
    const nats = await starts.nats();
    started.push(nats);
    const postgres = await starts.postgres();
    started.push(postgres);
    const registry = await starts.registry();
    started.push(registry);

    let stopping: Promise<void> | undefined;
    return {
      natsUrl: nats.url,
      databaseUrl: postgres.url,
      nats,
      postgres,
      registry,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
