import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import {
  listWebhookDeliveries,
  listWebhookRefusalCounts,
  toWebhookDeliveryJson,
  toWebhookRefusalCountJson,
  type Db,
} from "@kiln/db";
import {
  AccessResource,
  describeSubject,
  ForbiddenError,
  ValidationError,
  Verb,
} from "@kiln/domain";
import { needs, subjectOf } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** `?limit=`: absent, or a positive integer. */
function limitOf(query: { limit?: string }): number | undefined {
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new ValidationError([{ path: "limit", message: "a positive integer" }]);
  return limit;
}

/** What became of git webhooks: the stored deliveries, and the refusals only counted. */
export function registerWebhookDeliveryRoutes(app: App, options: { db: Db }): void {
  const { db } = options;

  /** Git webhook deliveries, newest first, with the build each made (`kiln events`). */
  app.get<{ Params: { ns: string }; Querystring: { buildConfig?: string; limit?: string } }>(
    "/apis/v1/namespaces/:ns/webhookdeliveries",
    needs({ verb: Verb.Read, resource: AccessResource.WebhookDeliveries }),
    async (request) => {
      const limit = limitOf(request.query);
      const items = await listWebhookDeliveries(db, request.params.ns, {
        buildConfig: request.query.buildConfig,
        limit,
      });
      return { items: items.map(toWebhookDeliveryJson) };
    },
  );

  /**
   * Refused webhook requests that were counted, not stored (for BuildConfigs that do not exist),
   * per hour, reason and provider. Behind the token on purpose: on the webhook port, a counter
   * that moves would tell a prober which BuildConfigs exist, which the receiver's 401 hides.
   */
  app.get<{ Querystring: { limit?: string } }>(
    "/apis/v1/webhookrefusals",
    needs({ handler: true, why: "cluster-wide counts, of no namespace: cluster admins only" }),
    async (request) => {
      const subject = subjectOf(request);
      if (!subject.clusterAdmin)
        throw new ForbiddenError(
          `${describeSubject(subject)} may not read the webhook refusal counts (cluster-wide: cluster admins only)`,
        );
      const items = await listWebhookRefusalCounts(db, { limit: limitOf(request.query) });
      return { items: items.map(toWebhookRefusalCountJson) };
    },
  );
}
