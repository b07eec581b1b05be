import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeyAuthenticator, type ConnectionOptions } from "nats";
import pg from "pg";
import { pino, type Logger } from "pino";
import { test as baseTest } from "vitest";
import {
  createKilnDatabase,
  freePort,
  startInfrastructure,
  type Infrastructure,
} from "@kiln/infra";
import {
  Bus,
  busNatsUsers,
  createBusCredentials,
  createSealingKeyPair,
  type BusCredentials,
  type BusIdentity,
  type SealingKeyPair,
} from "@kiln/bus";
import { runMigrations, SecretBox } from "@kiln/db";
import { basicAuthOf } from "@kiln/registry";
import { buildBusyboxImage, removeBuildahStore, type BuiltImage } from "@kiln/infra";
import { randomToken, registryNotificationToken } from "./names.js";
import { NotificationRelay } from "./notification-relay.js";

/** Name of the migrated database each test database is cloned from. */
export const templateDatabase = "kiln_template";

export { registryNotificationToken } from "./names.js";

/** The real servers of one vitest worker (see `integrationTest`). */
export type WorkerInfra = {
  natsUrl: string;
  /**
   * Every identity's NKey seed on the worker's NATS, which lets no one in without one. Each
   * role's permissions hold for every subject prefix, so the tests' private buses share them.
   */
  busCredentials: BusCredentials;
  /** The runners' sealing key pair the worker's services use. */
  sealingKeys: SealingKeyPair;
  /** The key the worker's services seal stored secrets with (KILN_SECRETS_KEY), and its box. */
  secretsKey: string;
  secrets: SecretBox;
  /** The `kiln` database as the `kiln` role (not migrated; tests should use the `database` fixture). */
  databaseUrl: string;
  /**
   * The superuser, `postgres` maintenance database, for DROP DATABASE (create with
   * `createKilnDatabase(infra.servers.postgres, …)`, so the `kiln` role owns it).
   */
  adminDatabaseUrl: string;
  /** Builds a URL for another database on the worker's server, as the `kiln` role. */
  databaseUrlFor(name: string): string;
  /**
   * The worker's registry. It wants Kiln's account for every request, as `kiln up`'s does:
   * `authFile` for buildah and skopeo (`--authfile`), `authorization` for fetch.
   */
  registry: WorkerRegistry;
  /** Receives the registry's notifications; point it at a receiver with `forwardTo`. */
  notifications: NotificationRelay;
  /** Temp directory of this worker (state, logs under `state/logs`). */
  workDir: string;
  servers: Infrastructure;
};

export type WorkerRegistry = {
  /** `127.0.0.1:PORT` */
  address: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Kiln's account (what `startKiln` gives the build-runner and the image-watcher). */
  credentials: { username: string; password: string };
  /** Docker config JSON with the account (0600). */
  authFile: string;
  /** `Basic …` for an `Authorization` header. */
  authorization: string;
};

export type TestDatabase = {
  name: string;
  /**
   * Connection URL of a fresh, migrated database that only this test uses, as the `kiln` role
   * (no superuser, owner of the database), as the services connect.
   */
  url: string;
};

export type BaseImage = BuiltImage & {
  /** buildah store that already holds the image (pass to `buildahArgs`). */
  storageDir: string;
  /** The worker registry's auth file, for pulls with that store (`--authfile`). */
  authFile: string;
};

type IntegrationFixtures = {
  infra: WorkerInfra;
  baseImage: BaseImage;
  database: TestDatabase;
  subjectPrefix: string;
};

/** Options for a plain `nats` connection to the worker's NATS as the admin (what a test inspects with). */
export function natsAdminOptions(
  infra: Pick<WorkerInfra, "natsUrl" | "busCredentials">,
): ConnectionOptions {
  return {
    servers: infra.natsUrl,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(infra.busCredentials.admin)),
  };
}

/**
 * A bus on the worker's NATS under `prefix`, as `role` (default `admin`, which may do anything,
 * as a test that plays several parts needs); an `admin` bus creates the streams first.
 */
export async function connectTestBus(
  infra: Pick<WorkerInfra, "natsUrl" | "busCredentials">,
  options: { prefix: string; name: string; role?: BusIdentity; logger?: Logger },
): Promise<Bus> {
  const role = options.role ?? "admin";
  const bus = await Bus.connect({
    servers: infra.natsUrl,
    prefix: options.prefix,
    name: options.name,
    logger: options.logger ?? pino({ level: "silent" }),
    identity: { role, nkeySeed: infra.busCredentials[role] },
  });
  if (role === "admin") await bus.ensureStreams();
  return bus;
}

/** Runs `fn` with a client of the database at `url` (an admin connection), closed afterwards. */
export async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function workerRegistry(servers: Infrastructure): WorkerRegistry {
  const { address, url, credentials, authFile } = servers.registry;
  // startInfrastructure always starts it with Kiln's account.
  if (!credentials || !authFile) throw new Error("the worker registry was started without auth");
  return {
    address,
    url,
    credentials,
    authFile,
    authorization: `Basic ${basicAuthOf(credentials)}`,
  };
}

/**
 * vitest `test` with Kiln's real infrastructure:
 * - `infra` (worker): nats with JetStream, postgres (`fast`) with a migrated `kiln_template`
 *   (owned and migrated by the `kiln` role, like `kiln up`'s database), and a registry that
 *   wants Kiln's account (as `kiln up`'s does) and whose notifications go
 *   to `infra.notifications`; started once per worker
 *   on free ports in a temp dir, stopped when the worker ends.
 * - `baseImage` (worker): `<registry>/base/busybox:latest`, built with buildah from Debian's
 *   busybox-static and pushed once per worker.
 * - `database` (test): a fresh database cloned from the template, dropped afterwards.
 * - `subjectPrefix` (test): a unique NATS subject token / stream-name prefix.
 */
export const integrationTest = baseTest.extend<IntegrationFixtures>({
  infra: [
    // vitest reads the fixture's dependencies from the destructuring pattern: it must stay `{}`.
    async ({}, use) => {
      const workDir = await mkdtemp(join(tmpdir(), "kiln-it-"));
      // mkdtemp makes 0700; as root, postgres runs as the postgres user and must pass through.
      await chmod(workDir, 0o711);
      const notifications = new NotificationRelay();
      await notifications.start();
      let servers: Infrastructure | undefined;
      const busCredentials = createBusCredentials();
      const sealingKeys = await createSealingKeyPair();
      const secretsKey = SecretBox.generateKey();
      try {
        servers = await startInfrastructure({
          natsUsers: busNatsUsers(busCredentials, "*"),
          stateDir: join(workDir, "state"),
          ports: { nats: await freePort(), postgres: await freePort(), registry: await freePort() },
          notificationUrl: notifications.url,
          notificationToken: registryNotificationToken,
          fast: true,
        });
        const pgServer = servers.postgres;
        await createKilnDatabase(pgServer, templateDatabase);
        await runMigrations(pgServer.urlFor(templateDatabase));
        await withAdmin(pgServer.adminUrl, async (c) => {
          // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template, and a
          // pool left open by the migrator would break every test of the worker.
          await c.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            [templateDatabase],
          );
          await c.query(
            `ALTER DATABASE ${templateDatabase} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
          );
        });
        await use({
          natsUrl: servers.natsUrl,
          busCredentials,
          sealingKeys,
          secretsKey,
          secrets: SecretBox.fromKey(secretsKey),
          databaseUrl: servers.databaseUrl,
          adminDatabaseUrl: pgServer.adminUrl,
          databaseUrlFor: pgServer.urlFor,
          registry: workerRegistry(servers),
          notifications,
          workDir,
          servers,
        });
      } finally {
        await servers?.stop();
        await notifications.stop();
        // Keep the logs of a failed run for a look; CI machines are thrown away anyway.
        if (process.env.KILN_KEEP_TEST_STATE === undefined)
          await rm(workDir, { recursive: true, force: true });
      }
    },
    { scope: "worker" },
  ],

  baseImage: [
    async ({ infra }, use) => {
      const storageDir = join(infra.workDir, "buildah");
      try {
        const { authFile } = infra.registry;
        const image = await buildBusyboxImage({
          storageDir,
          ref: `${infra.registry.address}/base/busybox:latest`,
          authFile,
        });
        await use({ ...image, storageDir, authFile });
      } finally {
        await removeBuildahStore(storageDir);
      }
    },
    { scope: "worker" },
  ],

  database: async ({ infra }, use) => {
    const name = `t_${randomToken(12)}`;
    await createKilnDatabase(infra.servers.postgres, name, { template: templateDatabase });
    try {
      await use({ name, url: infra.databaseUrlFor(name) });
    } finally {
      // FORCE: a test that forgot to close its pool must not leak the database.
      await withAdmin(infra.adminDatabaseUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    }
  },

  subjectPrefix: async ({}, use) => {
    await use(`t${randomToken(10)}`);
  },
});
