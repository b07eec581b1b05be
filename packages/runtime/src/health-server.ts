import { createServer, type Server } from "node:http";

export interface HealthServerOptions {
  port: number;
  host?: string;
  /** Returns problems; an empty list means healthy. */
  check: () => string[] | Promise<string[]>;
  /** Facts shown beside the status (the build-runner's storage driver, say). */
  details?: () => Record<string, unknown>;
}

/**
 * A bare `/healthz` endpoint for services that have no HTTP API of their own.
 * 200 `{"status":"ok", ...details}` or 503 with the problems listed.
 */
export class HealthServer {
  private server: Server | null = null;
  constructor(private readonly options: HealthServerOptions) {}

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      if (req.url !== "/healthz") {
        res.writeHead(404).end();
        return;
      }
      void Promise.resolve(this.options.check()).then(
        (problems) => {
          res.writeHead(problems.length === 0 ? 200 : 503, { "content-type": "application/json" });
          const details = this.options.details?.() ?? {};
          res.end(
            JSON.stringify(
              problems.length === 0
                ? { status: "ok", ...details }
                : { status: "unhealthy", problems, ...details },
            ),
          );
        },
        () => res.writeHead(503).end(),
      );
    });
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
