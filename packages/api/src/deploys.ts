import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { getDeploy, listDeploys, toDeployJson, type Db } from "@kiln/db";
import {
  AccessResource,
  deployPhases,
  issuesFromZod,
  NotFoundError,
  permittedNamespaces,
  ValidationError,
  Verb,
} from "@kiln/domain";
import { needs, subjectFor } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

const DeploysQuery = z.strictObject({
  imageStreamTag: z.string().min(1).optional(),
  status: z.enum(deployPhases).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

/**
 * Deploys (an image change rolled out to a workload or an HTTP target), newest first
 * (`kiln get deploys`): of one namespace, of every namespace the caller may read, or one by id.
 */
export function registerDeployRoutes(app: App, options: { db: Db }): void {
  const { db } = options;

  /** `namespaces`: one, the ones the caller may read, or `"all"`. */
  const listDeploysRoute = async (namespaces: "all" | ReadonlySet<string>, query: unknown) => {
    const parsed = DeploysQuery.safeParse(query ?? {});
    if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
    const items = await listDeploys(
      db,
      namespaces === "all" ? undefined : [...namespaces],
      parsed.data,
    );
    return { apiVersion: "kiln.dev/v1", kind: "DeployList", items: items.map(toDeployJson) };
  };
  const readDeploys = needs({ verb: Verb.Read, resource: AccessResource.Deploys });

  app.get<{ Params: { ns: string } }>(
    "/apis/v1/namespaces/:ns/deploys",
    readDeploys,
    async (request) => listDeploysRoute(new Set([request.params.ns]), request.query),
  );
  app.get(
    "/apis/v1/deploys",
    needs({ handler: true, why: "cluster-wide: shows the permitted namespaces only" }),
    async (request) =>
      listDeploysRoute(
        permittedNamespaces(await subjectFor(request, "known"), Verb.Read, AccessResource.Deploys),
        request.query,
      ),
  );
  app.get<{ Params: { ns: string; id: string } }>(
    "/apis/v1/namespaces/:ns/deploys/:id",
    readDeploys,
    async (request) => {
      const { ns, id } = request.params;
      const deploy = /^[0-9a-f-]{36}$/.test(id) ? await getDeploy(db, id) : null;
      if (!deploy || deploy.namespace !== ns) throw new NotFoundError("Deploy", ns, id);
      return toDeployJson(deploy);
    },
  );
}
