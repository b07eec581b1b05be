import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { listAllBuildConfigs, type Db } from "@kiln/db";
import {
  AccessResource,
  BuildGraph,
  imageChangeInputs,
  inPermitted,
  outputTagKey,
  permittedNamespaces,
  Verb,
} from "@kiln/domain";
import { needs, subjectFor } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/**
 * `GET /apis/v1/buildgraph`: the rebuild graph of chained builds (`kiln graph`, and `kiln impact`
 * with ?impact=ns/is:tag). The graph spans namespaces; the caller sees the BuildConfigs of the
 * namespaces it may read.
 */
export function registerBuildGraphRoute(app: App, options: { db: Db }): void {
  app.get<{ Querystring: { impact?: string } }>(
    "/apis/v1/buildgraph",
    needs({ handler: true, why: "cluster-wide: shows the permitted namespaces only" }),
    async (request) => {
      const readable = permittedNamespaces(
        await subjectFor(request, "known"),
        Verb.Read,
        AccessResource.BuildConfigs,
      );
      const shown = (id: string) => inPermitted(readable, id.slice(0, id.indexOf("/")));
      const graph = new BuildGraph(await listAllBuildConfigs(options.db));
      const nodes = graph.buildConfigs
        .filter((bc) => inPermitted(readable, bc.namespace))
        .map((bc) => ({
          buildConfig: `${bc.namespace}/${bc.name}`,
          inputs: imageChangeInputs(bc.spec, bc.namespace),
          output: outputTagKey(bc),
          downstream: (graph.downstream.get(`${bc.namespace}/${bc.name}`) ?? []).filter(shown),
        }));
      nodes.sort((a, b) => a.buildConfig.localeCompare(b.buildConfig));
      return {
        nodes,
        ...(request.query.impact
          ? { impact: graph.impact(request.query.impact).filter(shown) }
          : {}),
      };
    },
  );
}
