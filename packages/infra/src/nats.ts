import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { findBinaries } from "./binaries.js";
import { ManagedProcess } from "./managed-process.js";
import { assertPortFree } from "./ports.js";
import { tcpProbe, waitUntilReady } from "./readiness.js";

export type StartNatsOptions = {
  /** Kiln state directory; JetStream data goes to `<stateDir>/nats`, the log to `<stateDir>/logs/nats.log`. */
  stateDir: string;
  port: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** HTTP monitoring port (`/varz`, `/jsz`); off when absent. */
  monitorPort?: number;
  /** Path of nats-server. @default found with `findBinaries` */
  binary?: string;
  /** @default 15_000 */
  readyTimeoutMs?: number;
  /** Flag shown when the port is busy. @default "--nats-port" */
  portHint?: string;
  /**
   * The only clients the server lets in: NKey users and what each may publish and subscribe
   * to. Anonymous connections are refused. Absent: no authorization (only for tests of the
   * server itself).
   */
  users?: readonly NatsServerUser[];
};

/** A nats-server `authorization.users` entry: an NKey public key and its permissions. */
export type NatsServerUser = {
  nkey: string;
  permissions: { publish: { allow: string[] }; subscribe: { allow: string[] } };
};

export type NatsServer = {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  host: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
};

/** Starts nats-server with JetStream and waits until it greets clients with JetStream on. */
export async function startNats(options: StartNatsOptions): Promise<NatsServer> {
  const host = options.host ?? "127.0.0.1";
  const { port } = options;
  // Absolute: the server runs with cwd = stateDir, where a relative -sd would nest twice.
  const stateDir = resolve(options.stateDir);
  const binary = options.binary ?? findBinaries(["natsServer"]).natsServer;
  await assertPortFree(port, "nats", { host, hint: options.portHint ?? "--nats-port" });
  const storeDir = join(stateDir, "nats");
  await mkdir(storeDir, { recursive: true });

  const args = ["-js", "-sd", storeDir, "-a", host, "-p", String(port)];
  if (options.users) args.push("-c", await writeAuthorization(stateDir, options.users));
  if (options.monitorPort !== undefined) args.push("-m", String(options.monitorPort));
  const proc = new ManagedProcess({
    name: "nats",
    command: binary,
    args,
    cwd: stateDir,
    logFile: join(stateDir, "logs", "nats.log"),
  });
  await proc.start();
  try {
    // The INFO greeting arrives only once the client listener runs; JetStream is enabled
    // before that listener opens, and the greeting says so.
    await waitUntilReady(
      proc,
      async () => {
        const greeting = await tcpProbe(host, port, { readGreeting: true });
        return greeting.startsWith("INFO ") && greeting.includes('"jetstream":true');
      },
      { timeoutMs: options.readyTimeoutMs ?? 15_000 },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    url: `nats://${host}:${port}`,
    host,
    port,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
}

/**
 * nats-server reads JSON as its config format. The file holds only public keys, but also the
 * whole permission map, so it is the server user's alone.
 */
async function writeAuthorization(
  stateDir: string,
  users: readonly NatsServerUser[],
): Promise<string> {
  const file = join(stateDir, "nats.conf");
  await writeFile(file, `${JSON.stringify({ authorization: { users } }, null, 2)}\n`, {
    mode: 0o600,
  });
  await chmod(file, 0o600);
  return file;
}
