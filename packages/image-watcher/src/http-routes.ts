import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { NotificationReceiver } from "./notification-receiver.js";
import { NotificationSource, notificationSources } from "./notifications/push-hint.js";

export interface NotificationRoutesOptions {
  receiver: NotificationReceiver;
  logger: Logger;
  /** Larger bodies get 413. @default 1 MiB */
  bodyLimitBytes?: number;
}

const prefix = "/registry/notifications";

/**
 * `POST /registry/notifications` (CNCF distribution) and `POST /registry/notifications/<source>`
 * (`distribution`, `harbor`, `dockerhub`, `quay`), as the `otherwise` handler of the watcher's
 * health server.
 */
export function notificationRoutes(
  options: NotificationRoutesOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = options.bodyLimitBytes ?? 1024 * 1024;
  const send = (res: ServerResponse, status: number, body: Record<string, unknown>) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const rest =
      url.pathname === prefix
        ? NotificationSource.Distribution
        : url.pathname.startsWith(`${prefix}/`)
          ? url.pathname.slice(prefix.length + 1)
          : null;
    const source = notificationSources.find((s) => s === rest);
    if (!source) return send(res, 404, { error: "NotFound", message: `no route ${url.pathname}` });
    if (req.method !== "POST")
      return send(res, 405, { error: "MethodNotAllowed", message: "POST only" });
    if (Number(req.headers["content-length"]) > limit) {
      req.resume();
      return send(res, 413, {
        error: "PayloadTooLarge",
        message: `the body is larger than ${limit} bytes`,
      });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("error", () => res.destroy());
    req.on("end", () => {
      if (tooLarge)
        return send(res, 413, {
          error: "PayloadTooLarge",
          message: `the body is larger than ${limit} bytes`,
        });
      options.receiver
        .receive({
          source,
          contentType: req.headers["content-type"],
          authorization: req.headers.authorization,
          queryToken: url.searchParams.get("token"),
          body: Buffer.concat(chunks).toString("utf8"),
        })
        .then(
          (answer) => send(res, answer.status, answer.body),
          (error: unknown) => {
            options.logger.error({ err: error, source }, "registry notification failed");
            send(res, 500, { error: "InternalError", message: "see the image-watcher log" });
          },
        );
    });
  };
}
