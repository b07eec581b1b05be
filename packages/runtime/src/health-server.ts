import { createServer, type Server } from "node:http";
import { healthStatusCode, type ServiceHealth } from "./health.js";
import { applyIdleTimeout, healthServerTimeouts, httpServerOptions } from "./http-timeouts.js";

export interface HealthServerOptions {
  port: number;
  host?: string;
  /** `/healthz` answers its liveness checks, `/readyz` its readiness checks. */
  health: ServiceHealth;
  /** Facts shown beside the status (the build-runner's storage driver, say). */
  details?: () => Record<string, unknown>;
}

/**
 * `/healthz` (liveness) and `/readyz` (readiness) for services that have no HTTP API of their
 * own: 200 `{"status":"ok","checks":{…}, ...details}`, or 503 with the failing checks saying why.
 */
export class HealthServer {
  private server: Server | null = null;
  constructor(private readonly options: HealthServerOptions) {}

  async start(): Promise<number> {
    // A probe is quick: a client that is not (half a request, never reading) is cut off.
    const server = createServer(httpServerOptions(healthServerTimeouts), (req, res) => {
      const path = req.url?.split("?")[0];
      const checks =
        path === "/healthz"
          ? this.options.health.live
          : path === "/readyz"
            ? this.options.health.ready
            : null;
      if (!checks) {
        res.writeHead(404).end();
        return;
      }
      void checks.report().then((report) => {
        res.writeHead(healthStatusCode(report), { "content-type": "application/json" });
        res.end(JSON.stringify({ ...report, ...this.options.details?.() }));
      });
    });
    applyIdleTimeout(server, healthServerTimeouts);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host ?? "127.0.0.1", () => resolve());
    });
    const address = server.address();
    return typeof address === "object" && address ? address.port : this.options.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
