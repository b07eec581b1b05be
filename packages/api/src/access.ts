import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { parseCookie } from "cookie";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { findApiTokenBySha256, listNamespaces, type Db } from "@kiln/db";
import {
  AccessResource,
  authorize,
  bootstrapSubjectName,
  ForbiddenError,
  NotFoundError,
  type Subject,
  type Verb,
} from "@kiln/domain";
import { kilnTokenPrefix, sha256Hex, tokenMatches } from "./auth.js";
import { UnauthorizedError } from "./errors.js";
import type { KubernetesDelegation } from "./kubernetes-delegation.js";

/**
 * What a route needs of its caller, declared on the route (`config.access`) and checked by one
 * hook before the handler runs, so no handler can forget it:
 * - `public`: no token (`/healthz` and `/readyz` only);
 * - a verb on a resource of the route's `:ns`: refused with 403 before anything is read, so a
 *   namespace the token has no role in answers the same whether the resource exists or not;
 * - `handler`: the route's own checks decide from what it is sent or lists (apply, tokens,
 *   cluster-wide listings); `why` says so where the route is declared.
 */
export type RouteAccess =
  | { public: true }
  | { verb: Verb; resource: AccessResource | ((params: Record<string, string>) => AccessResource) }
  | { handler: true; why: string };

/** A route's options declaring what its caller needs (`config.access`, see RouteAccess). */
export const needs = (access: RouteAccess) => ({ config: { access } });

declare module "fastify" {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The authenticated caller; null only on public routes. */
    subject: Subject | null;
  }
}

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

const bootstrap: Subject = { name: bootstrapSubjectName, clusterAdmin: true, roles: [] };

/** The resource behind a `:plural` path segment; an unknown one is a 404, which leaks nothing. */
export function resourceOfPlural(params: Record<string, string>): AccessResource {
  const resource = pluralResources[params.plural ?? ""];
  if (!resource) throw new NotFoundError("resource type", params.ns ?? "", params.plural ?? "");
  return resource;
}

const pluralResources: Record<string, AccessResource> = {
  buildconfigs: AccessResource.BuildConfigs,
  builds: AccessResource.Builds,
  imagestreams: AccessResource.ImageStreams,
  imagestreamgrants: AccessResource.ImageStreamGrants,
  secrets: AccessResource.Secrets,
  buildertemplates: AccessResource.BuilderTemplates,
};

/**
 * Authenticates every request but a public route's and authorizes it by its route's
 * declaration. Must be registered before the routes: a route declared without `access` makes
 * the server fail to start (fail closed), rather than serve it to every token.
 */
export interface AccessControlOptions {
  db: Db;
  bootstrapToken: string;
  /** Where set, a bearer token Kiln does not know is reviewed by the cluster (API_AUTH_DELEGATION). */
  kubernetes?: KubernetesDelegation;
}

export function registerAccessControl(app: App, options: AccessControlOptions) {
  delegations.set(app, options);
  app.decorateRequest("subject", null);
  app.addHook("onRoute", (route) => {
    if (!route.config?.access)
      throw new Error(`route ${route.method} ${route.url} declares no access (config.access)`);
  });
  app.addHook("onRequest", async (request) => {
    const access = request.routeOptions.config.access;
    if (access && "public" in access) return;
    request.subject = await authenticate(request, options);
    // An unknown path is answered 404 by the not-found handler, to an authenticated caller only.
    if (!access || "handler" in access) return;
    const params = request.params as Record<string, string>;
    const resource =
      typeof access.resource === "function" ? access.resource(params) : access.resource;
    const namespace = params.ns ?? "";
    const subject = await subjectFor(request, [namespace]);
    authorize(subject, { verb: access.verb, resource, namespace });
  });
}

const delegations = new WeakMap<object, AccessControlOptions>();

/**
 * The caller with its roles in `namespaces` known, for the checks a handler makes itself (apply,
 * tokens, cluster-wide listings: `"known"` is every namespace Kiln holds a resource of). A Kiln
 * token carries all its roles already; a Kubernetes user's are read off the cluster's RBAC here,
 * and kept on the request for its later checks.
 */
export async function subjectFor(
  request: FastifyRequest,
  namespaces: Iterable<string> | "known",
): Promise<Subject> {
  const subject = subjectOf(request);
  const options = delegations.get(request.server);
  if (!subject.kubernetesUser || subject.clusterAdmin || !options?.kubernetes) return subject;
  const wanted = namespaces === "known" ? await listNamespaces(options.db) : namespaces;
  request.subject = await options.kubernetes.withRoles(subject, wanted);
  return request.subject;
}

/**
 * The bootstrap token (compared in constant time), else a stored token found by its SHA-256:
 * an unknown or revoked token is a 401 at once (nothing caches tokens).
 */
async function authenticate(
  request: FastifyRequest,
  options: AccessControlOptions,
): Promise<Subject> {
  if (request.headers.authorization !== undefined)
    return authenticateHeader(request.headers.authorization, options);
  const session = consoleSessionToken(request);
  if (session === undefined)
    throw new UnauthorizedError("a valid bearer token is required (KILN_TOKEN in .kiln/env)");
  // A browser sends the session cookie with any request to this origin, also one a form on
  // another site makes it send: a change is taken only from the console's own scripts, which
  // add a header no cross-site form or link can (SameSite=Strict is the first guard).
  if (!safeMethods.has(request.method) && request.headers[consoleRequestHeader] !== "1")
    throw new ForbiddenError(
      `a console session changes nothing without the ${consoleRequestHeader} header (send the token as a bearer token instead)`,
    );
  return authenticateHeader(`Bearer ${session}`, options);
}

/** How soon a long-lived response ends after its token is revoked or its role taken away. */
const recheckMs = 5_000;

/**
 * For a response that streams for hours (a followed log, an event stream): every few seconds
 * asks again whether its caller could still make this request, and calls `refused` once it
 * could not. Returns the function that stops asking.
 */
export function whileAllowed(
  request: FastifyRequest,
  access: { verb: Verb; resource: AccessResource; namespace: string },
  refused: (error: unknown) => void,
): () => void {
  const timer = setInterval(() => {
    void (async () => {
      await reauthenticate(request);
      authorize(await subjectFor(request, [access.namespace]), access);
    })().catch((error: unknown) => {
      clearInterval(timer);
      refused(error);
    });
  }, recheckMs);
  return () => clearInterval(timer);
}

/**
 * Authenticates a long-lived request again (an event stream that has been open for a while):
 * a token revoked since the request began is refused now, as it would be on a new request.
 */
async function reauthenticate(request: FastifyRequest): Promise<Subject> {
  const options = delegations.get(request.server);
  if (!options) throw new Error("registerAccessControl was not called on this server");
  request.subject = await authenticate(request, options);
  return request.subject;
}

const safeMethods = new Set(["GET", "HEAD"]);

/** Set by the console's scripts on every request they make (see authenticate). */
const consoleRequestHeader = "x-kiln-console";

/** The cookie that holds a console session's token (HttpOnly: the page's scripts never see it). */
export const consoleSessionCookie = "kiln_session";

function consoleSessionToken(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const value = parseCookie(header)[consoleSessionCookie];
  return value === undefined || value === "" ? undefined : value;
}

/** Who a token is, as a request bearing it would be authenticated (the console's login). */
export async function authenticateToken(app: object, token: string): Promise<Subject> {
  const options = delegations.get(app);
  if (!options) throw new Error("registerAccessControl was not called on this server");
  return authenticateHeader(`Bearer ${token}`, options);
}

async function authenticateHeader(header: string, options: AccessControlOptions): Promise<Subject> {
  if (tokenMatches(header, options.bootstrapToken)) return bootstrap;
  if (header?.startsWith("Bearer ")) {
    const bearer = header.slice("Bearer ".length);
    const token = await findApiTokenBySha256(options.db, sha256Hex(bearer));
    if (token) return { name: token.name, clusterAdmin: false, roles: token.roles };
    // A Kiln token (kiln_…) is never sent to the cluster: it is Kiln's to know, and it failed.
    if (options.kubernetes && !bearer.startsWith(kilnTokenPrefix)) {
      const user = await options.kubernetes.authenticate(bearer);
      if (user) return user;
      throw new UnauthorizedError(
        "the bearer token is not a Kiln token and the Kubernetes cluster did not accept it",
      );
    }
    throw new UnauthorizedError("the bearer token is unknown or was revoked");
  }
  throw new UnauthorizedError("a valid bearer token is required (KILN_TOKEN in .kiln/env)");
}

/** The caller of a route that is not public. */
export function subjectOf(request: FastifyRequest): Subject {
  if (!request.subject) throw new Error("no subject on a route that is not public");
  return request.subject;
}
