import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Bus } from "@kiln/bus";
import { getBuild, getBuildById, listBuilds, toBuildJson, type Db } from "@kiln/db";
import {
  AccessResource,
  isTerminalPhase,
  NotFoundError,
  Verb,
  type BuildRecord,
} from "@kiln/domain";
import type { HttpTimeouts } from "@kiln/runtime";
import { needs, whileAllowed } from "./access.js";
import type { BusRelay } from "./bus-relay.js";
import { BuildFinishedError } from "./errors.js";
import { waitForBuildStatus } from "./status-watch.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export interface BuildRouteOptions {
  db: Db;
  bus: Bus;
  /** Where a followed log hears its build's end. */
  relay: BusRelay;
  /** The api's HTTP timeouts: a followed log keeps its connection alive past the idle one. */
  timeouts: HttpTimeouts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A namespace's builds: list, get, cancel, and the log (whole, or followed while it runs). */
export function registerBuildRoutes(app: App, options: BuildRouteOptions): void {
  const { db, bus, relay, timeouts } = options;
  const readBuilds = needs({ verb: Verb.Read, resource: AccessResource.Builds });

  async function mustGetBuild(namespace: string, name: string): Promise<BuildRecord> {
    const build = await getBuild(db, namespace, name);
    if (!build) throw new NotFoundError("Build", namespace, name);
    return build;
  }

  app.get<{ Params: { ns: string }; Querystring: { buildConfig?: string } }>(
    "/apis/v1/namespaces/:ns/builds",
    readBuilds,
    async (request) => {
      const items = await listBuilds(db, request.params.ns, {
        buildConfig: request.query.buildConfig,
      });
      return { items: items.map(toBuildJson) };
    },
  );

  app.get<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/builds/:name",
    readBuilds,
    async (request) => toBuildJson(await mustGetBuild(request.params.ns, request.params.name)),
  );

  app.post<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/builds/:name/cancel",
    needs({ verb: Verb.Cancel, resource: AccessResource.Builds }),
    async (request, reply) => {
      const build = await mustGetBuild(request.params.ns, request.params.name);
      if (isTerminalPhase(build.phase))
        throw new BuildFinishedError(`build ${build.name} already ended ${build.phase}`);
      await bus.publish(
        "build.cancel-requested",
        build.id,
        {
          v: 1,
          buildId: build.id,
          namespace: build.namespace,
          name: build.name,
          requestedAt: new Date().toISOString(),
        },
        { msgId: `${build.id}:cancel` },
      );
      return reply.status(202).send(toBuildJson(build));
    },
  );

  app.get<{
    Params: { ns: string; name: string };
    Querystring: { follow?: string; download?: string };
  }>("/apis/v1/namespaces/:ns/builds/:name/log", readBuilds, async (request, reply) => {
    const build = await mustGetBuild(request.params.ns, request.params.name);
    const follow = request.query.follow === "true" || request.query.follow === "1";
    if (follow) {
      // A followed log is quiet while a build step prints nothing, for minutes: the idle
      // timeout is for clients that stall a request, and this one has been read in full. TCP
      // keep-alive probes instead tell a client that is gone from one that waits.
      request.raw.socket.setTimeout(0);
      request.raw.socket.setKeepAlive(true, timeouts.idleTimeoutMs);
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      // The console's download link: saved as a file named after the build.
      ...(request.query.download === "true" || request.query.download === "1"
        ? { "content-disposition": `attachment; filename="${build.name}.log"` }
        : {}),
    });
    // The status now, not with the first line: a build may print nothing for minutes.
    raw.flushHeaders();
    const controller = new AbortController();
    raw.on("close", () => controller.abort());
    // A followed log may stream for hours: it ends once its caller could no longer read it.
    const stopChecking = follow
      ? whileAllowed(
          request,
          { verb: Verb.Read, resource: AccessResource.Builds, namespace: build.namespace },
          (error) => {
            request.log.info(
              { buildId: build.id, err: error },
              "log follow ended: no longer allowed",
            );
            controller.abort();
          },
        )
      : () => undefined;
    try {
      await streamLog(build, follow && !isTerminalPhase(build.phase), raw, controller);
    } catch (error) {
      request.log.error({ err: error, buildId: build.id }, "log stream failed");
    } finally {
      stopChecking();
      raw.end();
    }
  });

  /**
   * Writes a build's log. Following, it also watches the build: once it has ended, it reads
   * on until every stored batch is written (the runner stores all lines before the final
   * status), then ends the response. The watch listens to the build's status events, so the
   * response ends as soon as the end is heard.
   */
  async function streamLog(
    build: BuildRecord,
    follow: boolean,
    raw: ServerResponse,
    controller: AbortController,
  ): Promise<void> {
    let delivered = 0;
    // Awaited only once the log ends: until then its failure (PostgreSQL gone mid-follow) must
    // end the stream, not go unhandled (which would take the whole api down).
    let watchFailure: unknown;
    const watcher = follow
      ? watchForEnd(build.id, () => delivered, controller).catch((error: unknown) => {
          watchFailure = error;
          controller.abort();
        })
      : Promise.resolve();
    for await (const batch of bus.read("build.log-appended", build.id, {
      follow,
      signal: controller.signal,
    })) {
      if (batch.lines.length > 0) raw.write(`${batch.lines.join("\n")}\n`);
      delivered += 1;
    }
    controller.abort();
    await watcher;
    if (watchFailure !== undefined) throw watchFailure;
  }

  /**
   * Resolves once the build has ended (its terminal status heard, or stored) and every log
   * batch counted then has been written, aborting the log's read; returns sooner when the
   * request ends first.
   */
  async function watchForEnd(
    buildId: string,
    delivered: () => number,
    controller: AbortController,
  ): Promise<void> {
    let heardEnd = false;
    const ended = await waitForBuildStatus(relay, {
      concerns: (event) => {
        if (event.buildId !== buildId || !isTerminalPhase(event.phase)) return false;
        heardEnd = true;
        return true;
      },
      // The end heard is the runner's (or the scheduler's) own word: a terminal phase is final,
      // so there is no need to wait for the scheduler to store it.
      look: async () => {
        if (heardEnd) return true;
        const build = await getBuildById(db, buildId);
        return !build || isTerminalPhase(build.phase) ? true : null;
      },
      signal: controller.signal,
    });
    if (ended === null) return;
    // The runner publishes a build's end only once its every log batch is stored.
    const total = await bus.count("build.log-appended", buildId);
    const until = Date.now() + 5_000;
    while (delivered() < total && Date.now() < until && !controller.signal.aborted) await sleep(20);
    controller.abort();
  }
}
