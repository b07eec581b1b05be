import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { stringifySetCookie } from "cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { listNamespaces, type Db } from "@kiln/db";
import { issuesFromZod, ValidationError } from "@kiln/domain";
import type { ConsoleAsset, ConsoleAssets } from "@kiln/console";
import { authenticateToken, consoleSessionCookie, subjectFor } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export interface ConsoleRouteOptions {
  db: Db;
  assets: ConsoleAssets;
  webhookUrl?: string | undefined;
}

/** How long a console login lasts; the token itself may be revoked sooner (checked on each request). */
const sessionSeconds = 12 * 60 * 60;

const LoginBody = z.strictObject({ token: z.string().min(1).max(4096) });

/**
 * The web console (docs/console.md): one page and its scripts, served by the api on its own
 * origin, so the browser's requests carry the same token auth as the CLI's. The page and its
 * assets are public and hold no data; everything the console shows comes from the REST API.
 */
export function registerConsoleRoutes(app: App, options: ConsoleRouteOptions): void {
  const { assets } = options;
  const page = (request: FastifyRequest, reply: FastifyReply) =>
    send(request, reply, assets.page, {
      "content-security-policy": assets.contentSecurityPolicy,
      "cache-control": "no-cache",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    });

  app.get("/console", { config: { access: { public: true } } }, (_request, reply) =>
    reply.redirect("/console/"),
  );
  app.get("/console/", { config: { access: { public: true } } }, page);
  app.get<{ Params: { "*": string } }>(
    "/console/*",
    { config: { access: { public: true } } },
    (request, reply) => {
      const file = assets.files.get(request.params["*"]);
      // Any other path is a page of the console's own (a bookmarked build, say): the page routes it.
      if (!file) return page(request, reply);
      return send(request, reply, file, { "cache-control": "no-cache" });
    },
  );

  /** Logs in: the token is checked as any request's would be, then kept in an HttpOnly cookie. */
  app.post("/console/login", { config: { access: { public: true } } }, async (request, reply) => {
    const parsed = LoginBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
    const subject = await authenticateToken(app, parsed.data.token);
    void reply.header(
      "set-cookie",
      stringifySetCookie({
        name: consoleSessionCookie,
        value: parsed.data.token,
        path: "/",
        httpOnly: true,
        sameSite: "strict",
        secure: request.protocol === "https",
        maxAge: sessionSeconds,
      }),
    );
    return { subject: subject.name };
  });
  app.post("/console/logout", { config: { access: { public: true } } }, async (_request, reply) => {
    void reply.header(
      "set-cookie",
      stringifySetCookie({ name: consoleSessionCookie, value: "", path: "/", maxAge: 0 }),
    );
    return { loggedOut: true };
  });

  /** Who the console is logged in as, and the namespaces it may show (a 401 shows the login). */
  app.get(
    "/apis/v1/session",
    { config: { access: { handler: true, why: "about the caller itself" } } },
    async (request) => {
      const subject = await subjectFor(request, "known");
      const namespaces = subject.clusterAdmin
        ? (await listNamespaces(options.db)).map((name) => ({ name, role: "admin" }))
        : subject.roles.map((binding) => ({ name: binding.namespace, role: binding.role }));
      namespaces.sort((a, b) => a.name.localeCompare(b.name));
      return {
        subject: subject.name,
        clusterAdmin: subject.clusterAdmin,
        namespaces,
        ...(options.webhookUrl ? { webhookUrl: options.webhookUrl.replace(/\/$/, "") } : {}),
      };
    },
  );
}

function send(
  request: FastifyRequest,
  reply: FastifyReply,
  file: ConsoleAsset,
  headers: Record<string, string>,
) {
  void reply.headers({ ...headers, etag: file.etag, "x-content-type-options": "nosniff" });
  if (request.headers["if-none-match"] === file.etag) return reply.status(304).send();
  return reply.type(file.contentType).send(file.body);
}
