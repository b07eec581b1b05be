import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import {
  deleteResource,
  getResource,
  listResources,
  listTagHistory,
  toResourceJson,
  type Db,
} from "@kiln/db";
import { NotFoundError, Verb, type ResourceKind } from "@kiln/domain";
import { needs, resourceOfPlural } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** The kinds stored as resources, by their path segment (builds have routes of their own). */
const kinds: Record<string, ResourceKind> = {
  buildconfigs: "BuildConfig",
  imagestreams: "ImageStream",
  imagestreamgrants: "ImageStreamGrant",
  secrets: "Secret",
  buildertemplates: "BuilderTemplate",
};

type NsParams = { ns: string; plural: string; name: string };

const kindOf = (params: { ns: string; plural: string }): ResourceKind => {
  const kind = kinds[params.plural];
  if (!kind) throw new NotFoundError("resource type", params.ns, params.plural);
  return kind;
};

/**
 * The generic routes of a namespace's resources, `/apis/v1/namespaces/:ns/:plural[/:name]`:
 * list, get and delete (applying them is `POST /apis/v1/apply`). An ImageStream comes with its
 * tags' history.
 */
export function registerResourceRoutes(app: App, options: { db: Db; registry: string }): void {
  const { db, registry } = options;
  const readPlural = needs({ verb: Verb.Read, resource: resourceOfPlural });

  app.get<{ Params: NsParams }>("/apis/v1/namespaces/:ns/:plural", readPlural, async (request) => {
    const kind = kindOf(request.params);
    const rows = await listResources(db, kind, request.params.ns);
    const history = kind === "ImageStream" ? await listTagHistory(db, request.params.ns) : [];
    return {
      items: rows.map((row) =>
        toResourceJson(kind, row, {
          registry,
          tagHistory: history.filter((h) => h.imageStream === row.name),
        }),
      ),
    };
  });

  app.get<{ Params: NsParams }>(
    "/apis/v1/namespaces/:ns/:plural/:name",
    readPlural,
    async (request) => {
      const { ns, name } = request.params;
      const kind = kindOf(request.params);
      const row = await getResource(db, kind, ns, name);
      if (!row) throw new NotFoundError(kind, ns, name);
      return toResourceJson(kind, row, {
        registry,
        tagHistory: kind === "ImageStream" ? await listTagHistory(db, ns, name) : [],
      });
    },
  );

  app.delete<{ Params: NsParams }>(
    "/apis/v1/namespaces/:ns/:plural/:name",
    needs({ verb: Verb.Delete, resource: resourceOfPlural }),
    async (request) => {
      const kind = kindOf(request.params);
      const { ns, name } = request.params;
      await deleteResource(db, kind, ns, name);
      return { deleted: { kind, namespace: ns, name } };
    },
  );
}
