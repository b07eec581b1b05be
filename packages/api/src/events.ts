import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { EventPayload } from "@kiln/bus";
import { AccessResource, isAllowed, Verb, type Subject } from "@kiln/domain";
import { subjectFor, whileAllowed } from "./access.js";
import type { BusRelay } from "./bus-relay.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** What the events stream sends a browser (an SSE `event:` name each), by the resource it is about. */
const relayed = {
  "build.status-changed": { name: "build", resource: AccessResource.Builds },
  "image.changed": { name: "image", resource: AccessResource.ImageStreams },
  "deploy.status-changed": { name: "deploy", resource: AccessResource.Deploys },
} as const;
type RelayedType = keyof typeof relayed;

/** A client whose unsent events pass this is dropped: it reconnects and reads the state afresh. */
const maxBufferedBytes = 1024 * 1024;
/** A comment line this often keeps proxies and the browser from taking a quiet stream for a dead one. */
const keepAliveMs = 15_000;

/**
 * `GET /apis/v1/namespaces/:ns/events`: server-sent events of a namespace's builds, image
 * changes and deploys as they happen (the console's live view, `kiln get builds -w`). Each
 * event is the bus's payload; only what the caller may read is sent.
 */
export function registerEventRoutes(app: App, options: { relay: BusRelay }): void {
  const { relay } = options;
  const open = new Set<ServerResponse>();
  // Before the server waits for its connections to end: these never would on their own.
  app.addHook("preClose", async () => {
    for (const raw of open) raw.end();
  });

  app.get<{ Params: { ns: string } }>(
    "/apis/v1/namespaces/:ns/events",
    { config: { access: { verb: Verb.Read, resource: AccessResource.Builds } } },
    async (request, reply) => {
      const namespace = request.params.ns;
      const subject: Subject = await subjectFor(request, [namespace]);
      const readable = new Set(
        (Object.keys(relayed) as RelayedType[]).filter((type) =>
          isAllowed(subject, { verb: Verb.Read, resource: relayed[type].resource, namespace }),
        ),
      );
      request.raw.socket.setTimeout(0);
      request.raw.socket.setKeepAlive(true, keepAliveMs);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
        // Nginx and the like would otherwise hold the events back to fill a buffer.
        "x-accel-buffering": "no",
      });
      // A reconnecting browser waits this long; it then reads the state afresh.
      raw.write("retry: 1000\nevent: ready\ndata: {}\n\n");
      open.add(raw);
      const send = (type: RelayedType, payload: EventPayload<RelayedType>) => {
        if (payload.namespace !== namespace) return;
        if (raw.writableLength > maxBufferedBytes) {
          request.log.warn({ namespace }, "events client too slow: dropped");
          raw.destroy();
          return;
        }
        raw.write(`event: ${relayed[type].name}\ndata: ${JSON.stringify(payload)}\n\n`);
      };
      const removes = [...readable].map((type) => relay.on(type, (payload) => send(type, payload)));
      const keepAlive = setInterval(() => raw.write(": keep-alive\n\n"), keepAliveMs);
      // A stream stays open for hours: it ends once its caller could no longer open it.
      const stopChecking = whileAllowed(
        request,
        { verb: Verb.Read, resource: AccessResource.Builds, namespace },
        (error) => {
          request.log.info({ namespace, err: error }, "events stream ended: no longer allowed");
          raw.end();
        },
      );
      raw.on("close", () => {
        clearInterval(keepAlive);
        stopChecking();
        for (const remove of removes) remove();
        open.delete(raw);
      });
    },
  );
}
