import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { healthStatusCode, type ServiceHealth } from "@kiln/runtime";
import { needs } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** `/healthz` (liveness) and `/readyz` (readiness), the only routes without a token. */
export function registerHealthRoutes(app: App, options: { health: ServiceHealth }): void {
  for (const [path, checks] of [
    ["/healthz", options.health.live],
    ["/readyz", options.health.ready],
  ] as const) {
    app.get(path, needs({ public: true }), async (_request, reply) => {
      const report = await checks.report();
      return reply.status(healthStatusCode(report)).send(report);
    });
  }
}
