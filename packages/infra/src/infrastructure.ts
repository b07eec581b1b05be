import { mkdir } from "node:fs/promises";
import { join } from "node:path";
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
  const bin = findBinaries(["natsServer", "postgres", "initdb", "registry"]);
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
    const nats = await startNats({
      stateDir: options.stateDir,
      host,
      port: options.ports.nats,
      binary: bin.natsServer,
      ...(options.natsUsers === undefined ? {} : { users: options.natsUsers }),
      ...(hints.nats === undefined ? {} : { portHint: hints.nats }),
    });
    started.push(nats);
    const postgres = await startPostgres({
      stateDir: options.stateDir,
      host,
      port: options.ports.postgres,
      binaries: { postgres: bin.postgres, initdb: bin.initdb },
      fast: options.fast ?? false,
      ...(hints.postgres === undefined ? {} : { portHint: hints.postgres }),
    });
    started.push(postgres);
    const registryDir = join(options.stateDir, "registry");
    await mkdir(registryDir, { recursive: true, mode: 0o700 });
    const registry = await startRegistry({
      stateDir: options.stateDir,
      host,
      port: options.ports.registry,
      binary: bin.registry,
      credentials: await ensureRegistryCredentials(registryDir),
      ...(options.notificationUrl === undefined
        ? {}
        : { notificationUrl: options.notificationUrl }),
      ...(options.notificationToken === undefined
        ? {}
        : { notificationToken: options.notificationToken }),
      ...(hints.registry === undefined ? {} : { portHint: hints.registry }),
    });
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
