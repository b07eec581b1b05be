import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import {
  fastifyTimeoutOptions,
  healthStatusCode,
  unavailableRetryAfterSeconds,
  type HttpTimeouts,
  type ServiceHealth,
} from "@kiln/runtime";
import type { NotificationReceiver } from "./notification-receiver.js";
import { NotificationSource, notificationSources } from "./notifications/push-hint.js";

export interface NotificationServerOptions {
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  receiver: NotificationReceiver;
  logger: Logger;
  /**
   * `/healthz` answers its liveness, `/readyz` its readiness; a notification that fails while
   * readiness fails is answered 503 with a Retry-After (the registry retries it either way).
   */
  health: ServiceHealth;
  /** Larger bodies get 413. @default 1 MiB */
  bodyLimitBytes?: number;
  /** How long a sender may take. @default defaultNotificationTimeouts */
  timeouts?: HttpTimeouts;
}

/**
 * The notification server's HTTP timeouts unless given. A registry posts a notification at once
 * (distribution times a delivery out after a few seconds and retries it), so anything slower is
 * not a registry: 10 s for the headers, 30 s for the whole request (at most 1 MiB), 30 s without
 * a byte mid-request, 72 s for an idle kept-alive connection.
 */
const defaultNotificationTimeouts: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
};

const prefix = "/registry/notifications";

/**
 * The image-watcher's one HTTP server: `/healthz`, `/readyz`, `POST /registry/notifications` (CNCF
 * distribution) and `POST /registry/notifications/<source>` (`distribution`, `harbor`,
 * `dockerhub`, `quay`). Each notification goes to the `NotificationReceiver`, which checks the
 * source's token and answers; a 5xx makes distribution retry the batch.
 */
export class NotificationServer {
  private readonly app: FastifyInstance;
  private readonly limit: number;

  constructor(private readonly options: NotificationServerOptions) {
    this.limit = options.bodyLimitBytes ?? 1024 * 1024;
    this.app = this.createApp();
  }

  /** Listens; resolves with the port. */
  async start(): Promise<number> {
    await this.app.listen({ host: this.options.host ?? "127.0.0.1", port: this.options.port });
    const address = this.app.server.address();
    return typeof address === "object" && address ? address.port : this.options.port;
  }

  /** Stops accepting; lets notifications in flight finish. */
  async stop(): Promise<void> {
    await this.app.close();
  }

  private createApp(): FastifyInstance {
    const app = Fastify({
      bodyLimit: this.limit,
      logger: false,
      ...fastifyTimeoutOptions(this.options.timeouts ?? defaultNotificationTimeouts),
    });
    // The receiver reads the body by the source's rules (distribution checks the content type,
    // the others read JSON whatever it says): every body reaches it as text. A header that is
    // not a media type at all is refused 415 by Fastify before any route.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
      done(null, body);
    });
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status === 413) return reply.status(413).send(this.tooLarge());
      if (status < 500) {
        const reason = status === 415 ? "UnsupportedMediaType" : "BadRequest";
        return reply.status(status).send({ error: reason, message: error.message });
      }
      this.options.logger.error(
        { err: error, path: urlOf(request).pathname },
        "http request failed",
      );
      return reply
        .status(500)
        .send({ error: "InternalError", message: "see the image-watcher log" });
    });
    // A path it does not serve is refused before its body is read, however large.
    app.addHook("onRequest", async (request, reply) => {
      if (request.is404) return notFound(request, reply);
    });
    app.setNotFoundHandler(notFound);

    // Any method answers, as it did before Fastify (a probe GETs or HEADs it).
    for (const [path, checks] of [
      ["/healthz", this.options.health.live],
      ["/readyz", this.options.health.ready],
    ] as const) {
      app.all(path, async (_request, reply) => {
        const report = await checks.report();
        return reply.status(healthStatusCode(report)).send(report);
      });
    }

    // The source and the method are checked before the body is read (a 404 or 405, never a 413).
    const sourceOf = (request: FastifyRequest): NotificationSource | undefined => {
      const { source } = request.params as { source?: string };
      if (source === undefined) return NotificationSource.Distribution;
      return notificationSources.find((s) => s === source);
    };
    const onRequest = async (request: FastifyRequest, reply: FastifyReply) => {
      if (!sourceOf(request)) return notFound(request, reply);
      if (request.method !== "POST")
        return reply.status(405).send({ error: "MethodNotAllowed", message: "POST only" });
    };
    const handler = (request: FastifyRequest, reply: FastifyReply) =>
      this.notification(sourceOf(request)!, request, reply);
    app.all(prefix, { onRequest }, handler);
    app.all(`${prefix}/:source`, { onRequest }, handler);
    return app;
  }

  private async notification(
    source: NotificationSource,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    let answer;
    try {
      answer = await this.options.receiver.receive({
        source,
        contentType: request.headers["content-type"],
        authorization: request.headers.authorization,
        // Docker Hub cannot send headers: its token comes as `?token=`.
        queryToken: urlOf(request).searchParams.get("token"),
        body: typeof request.body === "string" ? request.body : "",
      });
    } catch (error) {
      // PostgreSQL or NATS down: theirs, not the notification's; the registry retries it.
      const down = await this.options.health.ready.problem();
      if (down !== null) {
        this.options.logger.warn(
          { err: error, source, unavailable: down },
          "registry notification failed",
        );
        return reply
          .status(503)
          .header("retry-after", String(unavailableRetryAfterSeconds))
          .send({
            error: "ServiceUnavailable",
            message: `the notification could not be handled now (${down})`,
          });
      }
      this.options.logger.error({ err: error, source }, "registry notification failed");
      return reply
        .status(500)
        .send({ error: "InternalError", message: "see the image-watcher log" });
    }
    return reply.status(answer.status).send(answer.body);
  }

  private tooLarge() {
    return { error: "PayloadTooLarge", message: `the body is larger than ${this.limit} bytes` };
  }
}

const urlOf = (request: FastifyRequest) => new URL(request.url, "http://localhost");

function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .send({ error: "NotFound", message: `no route ${urlOf(request).pathname}` });
}
