import { createServer } from "node:net";
import { PortInUseError, type BusyPort } from "./errors.js";

/**
 * Kiln's default local ports. None equals a port that Debian's own packages take when their
 * system services start (nats-server 4222, postgresql 5432, docker-registry 5000), so `kiln up`
 * works next to them.
 */
export const DefaultPorts = {
  nats: 14222,
  postgres: 15432,
  registry: 15000,
  api: 18080,
  webhook: 18081,
  /** `/healthz` of the services without an HTTP API of their own. */
  schedulerHealth: 18082,
  buildRunnerHealth: 18083,
  imageWatcherHealth: 18084,
  deployerHealth: 18085,
  /** `/metrics` of the services whose main port the world reaches (kept off that port). */
  apiMetrics: 18086,
  webhookMetrics: 18087,
  imageWatcherMetrics: 18088,
} as const;

export type PortCheck = {
  port: number;
  /** Who wants the port, e.g. `nats`. */
  what: string;
  /** Flag that picks another port, e.g. `--nats-port`. */
  hint?: string;
};

export type PortCheckOptions = {
  /** @default "127.0.0.1" */
  host?: string;
  /** Flag that picks another port, shown in the error. */
  hint?: string;
};

/** True when nothing listens on host:port (we could bind it ourselves). */
export async function isPortFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") resolve(false);
      else reject(err);
    });
    // exclusive: a port held by another process must not look free through a shared cluster handle.
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Throws `PortInUseError` when the port is taken, e.g. "port 14222 for nats is already in use (choose another with --nats-port)". */
export async function assertPortFree(
  port: number,
  what: string,
  options: PortCheckOptions = {},
): Promise<void> {
  await assertPortsFree(
    [{ port, what, ...(options.hint === undefined ? {} : { hint: options.hint }) }],
    options.host,
  );
}

/** Checks every port and throws one `PortInUseError` naming all the busy ones. */
export async function assertPortsFree(
  checks: readonly PortCheck[],
  host = "127.0.0.1",
): Promise<void> {
  const busy: BusyPort[] = [];
  for (const check of checks) {
    if (!(await isPortFree(check.port, host))) busy.push(check);
  }
  if (busy.length > 0) throw new PortInUseError(busy);
}

/**
 * A port that is free right now (the kernel picks it). Another process can take it before
 * we bind it; good enough for tests on one machine.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}
