import { chmod, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { basicAuthOf, dockerConfigFor, type BasicCredentials } from "@kiln/registry";
import { findBinaries } from "./binaries.js";
import { ManagedProcess } from "./managed-process.js";
import { assertPortFree } from "./ports.js";
import { waitUntilReady } from "./readiness.js";
import { writeHtpasswd, writePrivateFile } from "./registry-auth.js";

export type StartRegistryOptions = {
  /** Kiln state directory; blobs go to `<stateDir>/registry/data`, config to `<stateDir>/registry/config.yml`. */
  stateDir: string;
  port: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** Where the registry POSTs notification envelopes (Kiln's webhook receiver); none when absent. */
  notificationUrl?: string;
  /** Sent as `Authorization: Bearer <token>` with every notification. */
  notificationToken?: string;
  /** An htpasswd file (bcrypt entries): the registry then requires basic auth, like a private registry. */
  htpasswdFile?: string;
  /**
   * Kiln's own account: the registry then requires it for every request, pulls as well as
   * pushes (distribution's htpasswd auth has no anonymous reads), from `<stateDir>/registry/htpasswd`;
   * and `<stateDir>/registry/auth.json` holds it for buildah, skopeo and podman
   * (`--authfile`, `REGISTRY_AUTH_FILE`). Not with `htpasswdFile` or `tokenAuth`.
   */
  credentials?: BasicCredentials;
  /**
   * Token auth, as Docker Hub, Quay or Harbor do it: the registry answers 401 with a
   * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge and accepts only JWTs the
   * token server at `realm` signed with a key certified by `rootCertBundle`. Not with `htpasswdFile`.
   */
  tokenAuth?: RegistryTokenAuth;
  /** Path of docker-registry. @default found with `findBinaries` */
  binary?: string;
  /** @default 15_000 */
  readyTimeoutMs?: number;
  /** Flag shown when the port is busy. @default "--registry-port" */
  portHint?: string;
};

export type RegistryTokenAuth = {
  /** URL of the token server clients buy tokens from. */
  realm: string;
  /** Sent in the challenge; tokens must name it as their audience (`aud`). */
  service: string;
  /** Tokens must name it as their issuer (`iss`). */
  issuer: string;
  /** PEM file of the certificates whose keys may sign tokens (the `x5c` chain must lead to one). */
  rootCertBundle: string;
};

export type RegistryServer = {
  /** `127.0.0.1:PORT`, the host part of image references. */
  address: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  host: string;
  port: number;
  /** The account the registry requires, when started with `credentials`. */
  credentials: BasicCredentials | null;
  /** Docker config JSON with `credentials` for `address` (0600), when started with them. */
  authFile: string | null;
  process: ManagedProcess;
  stop(): Promise<void>;
};

/**
 * Starts a CNCF distribution registry (plain HTTP, deletes enabled; no auth unless asked) and
 * waits for `GET /v2/`. Every file it writes is owner-only (config, htpasswd, auth file, log:
 * the config and the log hold the notification token), and so is `<stateDir>/registry`, so
 * no other local user reads the images on disk past the registry's auth.
 */
export async function startRegistry(options: StartRegistryOptions): Promise<RegistryServer> {
  const host = options.host ?? "127.0.0.1";
  const { port } = options;
  const stateDir = resolve(options.stateDir);
  const binary = options.binary ?? findBinaries(["registry"]).registry;
  await assertPortFree(port, "registry", { host, hint: options.portHint ?? "--registry-port" });
  const { credentials } = options;
  if (credentials && (options.htpasswdFile !== undefined || options.tokenAuth !== undefined))
    throw new Error("registry: credentials cannot be used with htpasswdFile or tokenAuth");

  const dir = join(stateDir, "registry");
  const dataDir = join(dir, "data");
  await mkdir(dataDir, { recursive: true });
  // chmod too: mkdir leaves a directory made by an earlier run as it was.
  await chmod(dir, 0o700);
  const address = `${host}:${port}`;
  let htpasswdFile = options.htpasswdFile;
  let authFile: string | null = null;
  if (credentials) {
    htpasswdFile = join(dir, "htpasswd");
    await writeHtpasswd(htpasswdFile, credentials);
    authFile = join(dir, "auth.json");
    await writePrivateFile(authFile, `${dockerConfigFor(address, credentials)}\n`);
  }
  const configFile = join(dir, "config.yml");
  await writePrivateFile(configFile, registryConfig({ ...options, htpasswdFile, host, dataDir }));

  const proc = new ManagedProcess({
    name: "registry",
    command: binary,
    args: ["serve", configFile],
    cwd: dir,
    logFile: join(stateDir, "logs", "registry.log"),
    // distribution logs each notification endpoint with its headers: the bearer token.
    logFileMode: 0o600,
  });
  await proc.start();
  const url = `http://${host}:${port}`;
  try {
    await waitUntilReady(
      proc,
      async () => {
        // With Kiln's account, ready means it is let in: the htpasswd file works.
        const res = await fetch(`${url}/v2/`, {
          signal: AbortSignal.timeout(1000),
          ...(credentials
            ? { headers: { authorization: `Basic ${basicAuthOf(credentials)}` } }
            : {}),
        });
        await res.body?.cancel();
        // 401 is a registry that is up and wants credentials (a password, or a token).
        const wantsCredentials = htpasswdFile !== undefined || options.tokenAuth !== undefined;
        return res.status === 200 || (!credentials && wantsCredentials && res.status === 401);
      },
      { timeoutMs: options.readyTimeoutMs ?? 15_000 },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    address,
    url,
    host,
    port,
    credentials: credentials ?? null,
    authFile,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
}

/** The registry's config.yml. JSON strings are valid YAML scalars, which keeps quoting safe. */
export function registryConfig(options: {
  host: string;
  port: number;
  dataDir: string;
  notificationUrl?: string | undefined;
  notificationToken?: string | undefined;
  htpasswdFile?: string | undefined;
  tokenAuth?: RegistryTokenAuth | undefined;
}): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "version: 0.1",
    "log:",
    // Not info: at info distribution logs each notification endpoint with its URL and headers,
    // the bearer token among them. Warnings, errors and the access log still go to the log.
    "  level: warn",
    "  fields:",
    "    service: registry",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${q(options.dataDir)}`,
    // Kiln untags and garbage-collects old build outputs; distribution refuses DELETE otherwise.
    "  delete:",
    "    enabled: true",
    // The periodic upload purge only matters for long-lived shared registries.
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${q(`${options.host}:${options.port}`)}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
  ];
  if (options.htpasswdFile !== undefined) {
    lines.push(
      "auth:",
      "  htpasswd:",
      `    realm: ${q("kiln")}`,
      `    path: ${q(options.htpasswdFile)}`,
    );
  }
  if (options.tokenAuth !== undefined) {
    // distribution takes exactly one auth provider.
    if (options.htpasswdFile !== undefined)
      throw new Error("registry: htpasswdFile and tokenAuth cannot be used together");
    const t = options.tokenAuth;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${q(t.realm)}`,
      `    service: ${q(t.service)}`,
      `    issuer: ${q(t.issuer)}`,
      `    rootcertbundle: ${q(t.rootCertBundle)}`,
    );
  }
  if (options.notificationUrl !== undefined) {
    lines.push(
      "notifications:",
      "  endpoints:",
      "    - name: kiln",
      `      url: ${q(options.notificationUrl)}`,
    );
    if (options.notificationToken !== undefined) {
      lines.push(
        "      headers:",
        `        Authorization: [${q(`Bearer ${options.notificationToken}`)}]`,
      );
    }
    lines.push(
      // Short timeout and backoff: the receiver is local; a registry endpoint that is down
      // queues events in memory and retries them in order, it does not drop them.
      "      timeout: 1s",
      "      threshold: 5",
      "      backoff: 1s",
    );
  }
  return `${lines.join("\n")}\n`;
}
