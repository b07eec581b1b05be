import { Writable } from "node:stream";
import { createApiServer, type KubernetesDelegation } from "@kiln/api";
import type { Bus } from "@kiln/bus";
import { createDatabase } from "@kiln/db";
import { createLogger, type HttpTimeouts } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { TagRecorder } from "@kiln/image-tags";
import {
  connectTestBus,
  integrationTest as baseTest,
  type TestDatabase,
  type WorkerInfra,
} from "@kiln/testing";

/** The bootstrap token (API_TOKEN) of the api under test. */
export const bootstrapToken = "bootstrap-token-0123456789abcdef";

interface Answer {
  status: number;
  json: any;
  /** The raw body: what a test greps for a secret. */
  text: string;
}

/** Requests to the api as the holder of `token` (null: no Authorization header). */
export type Caller = (method: string, path: string, body?: unknown) => Promise<Answer>;

export interface TenantApi {
  infra: WorkerInfra;
  /** The test's database, as the `kiln` role: what a test queries directly. */
  databaseUrl: string;
  /** The api's base URL (it listens on a free loopback port, so the CLI can reach it). */
  url: string;
  as(token: string | null): Caller;
  bootstrap: Caller;
  /** Creates a token with these `namespace=role` pairs as the bootstrap token; returns it. */
  token(name: string, ...roles: string[]): Promise<string>;
  /** The bus the api and scheduler use (admin), for events a test sends itself. */
  bus: Bus;
  /** Moves `namespace/imagestream:tag` to `digest` as the image-watcher would (history + image.changed). */
  moveTag(key: string, digest: string): Promise<void>;
  /** Every line the api and the scheduler logged, at info level and above. */
  logs(): string;
}

/**
 * The api in-process on the test's own database and bus prefix, with a real scheduler beside it
 * (builds are made and dispatched, and a cancel of a queued build lands), and no runner: a
 * dispatched build stays Pending.
 */
type TenantFixtures = {
  /** Where a test sets it, the api delegates tokens it does not know to this cluster. */
  apiKubernetes: KubernetesDelegation | undefined;
  /** Where a test sets them, the api's HTTP timeouts (short ones, to watch slow clients cut off). */
  apiTimeouts: HttpTimeouts | undefined;
  kiln: TenantApi;
};

/**
 * The `kiln` fixture. A test file that overrides `apiKubernetes` or `apiTimeouts` extends with
 * this again, so that `kiln` depends on the override (vitest binds a fixture's dependencies where
 * it is declared).
 */
export const kilnFixture = async (
  {
    infra,
    database,
    subjectPrefix,
    apiKubernetes,
    apiTimeouts,
  }: {
    infra: WorkerInfra;
    database: TestDatabase;
    subjectPrefix: string;
    apiKubernetes: KubernetesDelegation | undefined;
    apiTimeouts: HttpTimeouts | undefined;
  },
  use: (kiln: TenantApi) => Promise<void>,
) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ service: "tenant-test", level: "info", destination: sink });
  const db = createDatabase(database.url);
  const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "tenant-test", logger });
  const scheduler = new BuildScheduler({
    bus,
    db: db.db,
    logger,
    registry: infra.registry.address,
    runnerSealingKey: infra.sealingKeys.publicKey,
    secrets: infra.secrets,
  });
  await scheduler.start();
  const app = createApiServer({
    db: db.db,
    bus,
    logger,
    token: bootstrapToken,
    registry: infra.registry.address,
    secrets: infra.secrets,
    instantiateWaitMs: 5_000,
    ...(apiKubernetes ? { kubernetes: apiKubernetes } : {}),
    ...(apiTimeouts ? { timeouts: apiTimeouts } : {}),
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const recorder = new TagRecorder({ db: db.db, bus, logger });
  const as =
    (token: string | null): Caller =>
    async (method, path, body) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.status, json, text };
    };
  const bootstrap = as(bootstrapToken);
  try {
    await use({
      infra,
      databaseUrl: database.url,
      url,
      as,
      bootstrap,
      bus,
      async token(name, ...roles) {
        const res = await bootstrap("POST", "/apis/v1/tokens", {
          name,
          roles: roles.map((r) => {
            const [namespace, role] = r.split("=");
            return { namespace, role };
          }),
        });
        if (res.status !== 201) throw new Error(`token ${name}: ${res.status} ${res.text}`);
        return res.json.token as string;
      },
      async moveTag(key, digest) {
        const [namespace, rest] = key.split("/") as [string, string];
        const [imageStream, tag] = rest.split(":") as [string, string];
        await recorder.record({
          namespace,
          imageStream,
          tag,
          digest,
          imageReference: `${infra.registry.address}/${namespace}/${imageStream}@${digest}`,
          cause: { type: "RegistryPush" },
        });
      },
      logs: () => lines.join(""),
    });
  } finally {
    await app.close();
    await scheduler.stop();
    await bus.drain();
    await db.close();
  }
};

export const test = baseTest.extend<TenantFixtures>({
  apiKubernetes: async ({}, use) => use(undefined),
  apiTimeouts: async ({}, use) => use(undefined),
  kiln: kilnFixture,
});

/** A Docker BuildConfig in `namespace` pushing to `to` (an ImageStreamTag, `[ns/]is:tag`). */
export function buildConfig(
  namespace: string,
  name: string,
  options: { to?: string; toDockerImage?: string; from?: string; trigger?: boolean } = {},
) {
  const tagRef = (ref: string) => {
    const [ns, nameAndTag] = ref.includes("/") ? ref.split("/") : [undefined, ref];
    return { kind: "ImageStreamTag", name: nameAndTag, ...(ns ? { namespace: ns } : {}) };
  };
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace },
    spec: {
      source: { git: { uri: "https://git.example.test/app.git" } },
      strategy: {
        type: "Docker",
        dockerStrategy: options.from ? { from: tagRef(options.from) } : {},
      },
      output: {
        to: options.toDockerImage
          ? { kind: "DockerImage", name: options.toDockerImage }
          : tagRef(options.to ?? `${name}:latest`),
      },
      triggers: options.trigger ? [{ type: "ImageChange" }] : [],
    },
  };
}

/** An ImageStreamGrant in `namespace` giving `grantee` these kinds of access. */
export function imageStreamGrant(
  namespace: string,
  name: string,
  grantee: string,
  access: ("pull" | "push")[],
) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "ImageStreamGrant",
    metadata: { name, namespace },
    spec: { grantee: { namespace: grantee }, access },
  };
}

/** Polls `fn` until it returns something other than undefined. */
export async function eventually<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
