import { createServer, type Server, type ServerResponse } from "node:http";
import { healthStatusCode, type ServiceHealth } from "./health.js";
import type { MetricsRegistry } from "./metrics/registry.js";
import { applyIdleTimeout, healthServerTimeouts, httpServerOptions } from "./http-timeouts.js";

export interface HealthServerOptions {
  port: number;
  host?: string;
  /** `/healthz` answers its liveness checks, `/readyz` its readiness checks. */
  health: ServiceHealth;
  /** Facts shown beside the status (the build-runner's storage driver, say). */
  details?: () => Record<string, unknown>;
  /** Served as `/metrics` in Prometheus's text format; without it `/metrics` is a 404. */
  metrics?: MetricsRegistry;
}

/**
 * `/healthz` (liveness) and `/readyz` (readiness): 200 `{"status":"ok","checks":{…}, ...details}`,
 * or 503 with the failing checks saying why; and `/metrics` for Prometheus. The workers serve it
 * as their only port; the api, webhook-receiver and image-watcher on a port of its own, apart
 * from the one the world reaches (metrics name namespaces and count refusals).
 */
export class HealthServer {
  private server: Server | null = null;
  constructor(private readonly options: HealthServerOptions) {}

  async start(): Promise<number> {
    // A probe is quick: a client that is not (half a request, never reading) is cut off.
    const server = createServer(httpServerOptions(healthServerTimeouts), (req, res) => {
      const path = req.url?.split("?")[0];
      if (path === "/metrics" && this.options.metrics) {
        this.serveMetrics(this.options.metrics, res);
        return;
      }
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

  /**
   * Rendering reads what the counters hold (synchronous, microseconds) and the consumer lag,
   * which waits a bounded time for NATS (see ConsumerLag); nothing a service does waits for it.
   */
  private serveMetrics(registry: MetricsRegistry, res: ServerResponse): void {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      },
      (error: unknown) => {
        res
          .writeHead(500, { "content-type": "text/plain" })
          .end(`metrics failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
