import { createHash, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Readable, Transform } from "node:stream";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { requestBuild, type Bus } from "@kiln/bus";
import {
  applyResources,
  deleteResource,
  findBuildByRequestId,
  getBuild,
  getBuildById,
  getResource,
  listBuilds,
  listResources,
  listWebhookDeliveries,
  listWebhookRefusalCounts,
  listTagHistory,
  toBuildJson,
  toResourceJson,
  toWebhookDeliveryJson,
  toWebhookRefusalCountJson,
  listAllBuildConfigs,
  getDeploy,
  listDeploys,
  toDeployJson,
  type Db,
  type SecretBox,
} from "@kiln/db";
import {
  BuildGraph,
  deployPhases,
  envName,
  imageChangeInputs,
  isTerminalPhase,
  issuesFromZod,
  NotFoundError,
  outputTagKey,
  parseResources,
  ValidationError,
  type BuildConfigSpec,
  type BuildRecord,
  type Resource,
  type ResourceKind,
} from "@kiln/domain";
import type { Logger } from "pino";
import { z } from "zod";
import { tokenMatches } from "./auth.js";
import {
  BuildFinishedError,
  PayloadTooLargeError,
  toHttpError,
  UnauthorizedError,
} from "./errors.js";
import { registerImageStreamTagRoutes } from "./image-stream-tags.js";

export interface ApiServerOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  /** Bearer token every route but /healthz requires. */
  token: string;
  /** Kiln's registry, shown on ImageStreams. */
  registry: string;
  /** Seals the secrets of applied resources before they are stored (KILN_SECRETS_KEY). */
  secrets: SecretBox;
  /** @default 5 MiB */
  bodyLimitBytes?: number;
  /** How long `instantiate` waits for the scheduler to create the build before answering 202. @default 15000 */
  instantiateWaitMs?: number;
  /** Largest upload `instantiatebinary` accepts (API_BINARY_LIMIT_BYTES). @default 512 MiB */
  binaryLimitBytes?: number;
}

const kinds: Record<string, ResourceKind> = {
  buildconfigs: "BuildConfig",
  imagestreams: "ImageStream",
  secrets: "Secret",
};

const InstantiateBody = z.strictObject({
  commit: z
    .string()
    .regex(/^[0-9a-f]{4,64}$/, "must be a hexadecimal commit id")
    .optional(),
  env: z.array(z.strictObject({ name: envName, value: z.string() })).default([]),
  requestId: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, - and _ only")
    .optional(),
});

const InstantiateBinaryQuery = z.strictObject({
  /** File name of a single uploaded file (OpenShift's `asFile`); implies `kind=file`. */
  asFile: z
    .string()
    .max(255)
    .regex(/^(?!\.{1,2}$)[^/\0]+$/, "a plain file name (no /)")
    .optional(),
  kind: z.enum(["file", "archive"]).optional(),
  requestId: InstantiateBody.shape.requestId,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The REST API of docs/api.md. Returns a Fastify instance, not yet listening. */
export function createApiServer(options: ApiServerOptions) {
  const { db, bus, token, registry } = options;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: "api" }),
    bodyLimit: options.bodyLimitBytes ?? 5 * 1024 * 1024,
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error);
    if (status >= 500) request.log.error({ err: error }, "request failed");
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: "NotFound",
      message: `no route ${request.method} ${request.url.split("?")[0]}`,
    });
  });

  // Binary uploads reach their route as the raw request stream: streamed into the object store,
  // never buffered, and limited by binaryLimitBytes instead of bodyLimit.
  app.addContentTypeParser("application/octet-stream", (_request, payload, done) =>
    done(null, payload),
  );

  app.addHook("onRequest", async (request) => {
    if (request.url === "/healthz") return;
    if (!tokenMatches(request.headers.authorization, token)) {
      throw new UnauthorizedError("a valid bearer token is required (KILN_TOKEN in .kiln/env)");
    }
  });

  app.get("/healthz", async (_request, reply) => {
    const problems: string[] = [];
    if (bus.isClosed()) problems.push("nats connection closed");
    try {
      await db.execute("select 1");
    } catch {
      problems.push("database unreachable");
    }
    return reply
      .status(problems.length ? 503 : 200)
      .send(problems.length ? { status: "unhealthy", problems } : { status: "ok" });
  });

  app.post("/apis/v1/apply", async (request) => {
    const body = request.body as { items?: unknown } | null;
    if (!body || !Array.isArray(body.items)) {
      throw new ValidationError([{ path: "items", message: "required: a list of resources" }]);
    }
    const resources = parseResources(body.items);
    await refuseRebuildCycles(resources);
    const results = await applyResources(db, resources, options.secrets);
    // ConfigChange triggers fire when the BuildConfig is created, as in OpenShift. The request
    // id is the BuildConfig's uid: a retried apply never starts a second build.
    for (const [i, result] of results.entries()) {
      const resource = resources[i]!;
      if (result.action !== "created" || resource.kind !== "BuildConfig") continue;
      if (!resource.spec.triggers.some((t) => t.type === "ConfigChange")) continue;
      const requestId = `config-${result.uid}`;
      await requestBuild(bus, {
        requestId,
        namespace: result.namespace,
        buildConfig: result.name,
        env: [],
        cause: { type: "ConfigChange", message: "Build configuration change" },
      });
    }
    return { items: results.map(({ uid: _uid, ...item }) => item) };
  });

  /** A set of BuildConfigs whose ImageChange triggers feed each other would rebuild for ever. */
  async function refuseRebuildCycles(resources: Resource[]): Promise<void> {
    const applied = resources.flatMap((r, i) =>
      r.kind === "BuildConfig"
        ? [{ i, bc: { namespace: r.metadata.namespace, name: r.metadata.name, spec: r.spec } }]
        : [],
    );
    if (applied.length === 0) return;
    const replaced = new Set(applied.map(({ bc }) => `${bc.namespace}/${bc.name}`));
    const stored = (await listAllBuildConfigs(db)).filter(
      (bc) => !replaced.has(`${bc.namespace}/${bc.name}`),
    );
    const cycle = new BuildGraph([...stored, ...applied.map(({ bc }) => bc)]).findCycle();
    if (!cycle) return;
    const at = applied.find(({ bc }) => cycle.includes(`${bc.namespace}/${bc.name}`))?.i ?? 0;
    throw new ValidationError([
      {
        path: `items[${at}].spec.triggers`,
        message: `would make a rebuild cycle: ${cycle.join(" → ")}`,
      },
    ]);
  }

  // The rebuild graph of chained builds: `kiln graph`, and `kiln impact` with ?impact=ns/is:tag.
  app.get<{ Querystring: { impact?: string } }>("/apis/v1/buildgraph", async (request) => {
    const graph = new BuildGraph(await listAllBuildConfigs(db));
    const nodes = graph.buildConfigs.map((bc) => ({
      buildConfig: `${bc.namespace}/${bc.name}`,
      inputs: imageChangeInputs(bc.spec, bc.namespace),
      output: outputTagKey(bc),
      downstream: graph.downstream.get(`${bc.namespace}/${bc.name}`) ?? [],
    }));
    nodes.sort((a, b) => a.buildConfig.localeCompare(b.buildConfig));
    return {
      nodes,
      ...(request.query.impact ? { impact: graph.impact(request.query.impact) } : {}),
    };
  });

  type NsParams = { ns: string; plural: string; name: string };
  const kindOf = (params: { ns: string; plural: string }): ResourceKind => {
    const kind = kinds[params.plural];
    if (!kind) throw new NotFoundError("resource type", params.ns, params.plural);
    return kind;
  };

  /** Git webhook deliveries, newest first, with the build each made (`kiln events`). */
  app.get<{ Params: { ns: string }; Querystring: { buildConfig?: string; limit?: string } }>(
    "/apis/v1/namespaces/:ns/webhookdeliveries",
    async (request) => {
      const limit = request.query.limit === undefined ? undefined : Number(request.query.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
        throw new ValidationError([{ path: "limit", message: "a positive integer" }]);
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
  app.get<{ Querystring: { limit?: string } }>("/apis/v1/webhookrefusals", async (request) => {
    const limit = request.query.limit === undefined ? undefined : Number(request.query.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
      throw new ValidationError([{ path: "limit", message: "a positive integer" }]);
    const items = await listWebhookRefusalCounts(db, { limit });
    return { items: items.map(toWebhookRefusalCountJson) };
  });

  /** Deploys (an image change rolled out to a workload or an HTTP target), newest first (`kiln get deploys`). */
  const DeploysQuery = z.strictObject({
    imageStreamTag: z.string().min(1).optional(),
    status: z.enum(deployPhases).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  });
  const listDeploysRoute = async (namespace: string | undefined, query: unknown) => {
    const parsed = DeploysQuery.safeParse(query ?? {});
    if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
    const items = await listDeploys(db, namespace, parsed.data);
    return { apiVersion: "kiln.dev/v1", kind: "DeployList", items: items.map(toDeployJson) };
  };
  app.get<{ Params: { ns: string } }>("/apis/v1/namespaces/:ns/deploys", async (request) =>
    listDeploysRoute(request.params.ns, request.query),
  );
  app.get("/apis/v1/deploys", async (request) => listDeploysRoute(undefined, request.query));
  app.get<{ Params: { ns: string; id: string } }>(
    "/apis/v1/namespaces/:ns/deploys/:id",
    async (request) => {
      const { ns, id } = request.params;
      const deploy = /^[0-9a-f-]{36}$/.test(id) ? await getDeploy(db, id) : null;
      if (!deploy || deploy.namespace !== ns) throw new NotFoundError("Deploy", ns, id);
      return toDeployJson(deploy);
    },
  );

  app.get<{ Params: NsParams }>("/apis/v1/namespaces/:ns/:plural", async (request) => {
    if (request.params.plural === "builds") return listBuildsRoute(request as never);
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

  app.get<{ Params: NsParams }>("/apis/v1/namespaces/:ns/:plural/:name", async (request) => {
    const { ns, name, plural } = request.params;
    if (plural === "builds") return toBuildJson(await mustGetBuild(ns, name));
    const kind = kindOf(request.params);
    const row = await getResource(db, kind, ns, name);
    if (!row) throw new NotFoundError(kind, ns, name);
    return toResourceJson(kind, row, {
      registry,
      tagHistory: kind === "ImageStream" ? await listTagHistory(db, ns, name) : [],
    });
  });

  app.delete<{ Params: NsParams }>("/apis/v1/namespaces/:ns/:plural/:name", async (request) => {
    const kind = kindOf(request.params);
    const { ns, name } = request.params;
    await deleteResource(db, kind, ns, name);
    return { deleted: { kind, namespace: ns, name } };
  });

  async function listBuildsRoute(
    request: FastifyRequest<{ Params: NsParams; Querystring: { buildConfig?: string } }>,
  ) {
    const items = await listBuilds(db, request.params.ns, {
      buildConfig: request.query.buildConfig,
    });
    return { items: items.map(toBuildJson) };
  }

  async function mustGetBuild(namespace: string, name: string): Promise<BuildRecord> {
    const build = await getBuild(db, namespace, name);
    if (!build) throw new NotFoundError("Build", namespace, name);
    return build;
  }

  registerImageStreamTagRoutes(app, { db, bus, logger: options.logger });

  app.post<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/buildconfigs/:name/instantiate",
    async (request, reply) => {
      const { ns, name } = request.params;
      const parsed = InstantiateBody.safeParse(request.body ?? {});
      if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
      if (!(await getResource(db, "BuildConfig", ns, name)))
        throw new NotFoundError("BuildConfig", ns, name);
      const requestId = parsed.data.requestId ?? randomUUID();
      await requestBuild(bus, {
        requestId,
        namespace: ns,
        buildConfig: name,
        commit: parsed.data.commit,
        env: parsed.data.env,
        cause: { type: "Manual", message: "Manually triggered" },
      });
      return answerWhenCreated(requestId, reply);
    },
  );

  /** The scheduler numbers the build; wait for it so the CLI can print and follow `NAME-N`. */
  async function answerWhenCreated(requestId: string, reply: FastifyReply) {
    const until = Date.now() + (options.instantiateWaitMs ?? 15_000);
    for (let delay = 5; Date.now() < until; delay = Math.min(delay * 2, 100)) {
      const build = await findBuildByRequestId(db, requestId);
      if (build) return reply.status(201).send(toBuildJson(build));
      await sleep(delay);
    }
    return reply.status(202).send({ requestId });
  }

  /**
   * A binary build (OpenShift's `instantiatebinary`): the body is streamed into the
   * BUILD_INPUTS object store under the request id, then `build.requested` names that object.
   * Over the limit, reading stops, the partial object is deleted and nothing is published.
   */
  app.post<{ Params: { ns: string; name: string }; Querystring: Record<string, string> }>(
    "/apis/v1/namespaces/:ns/buildconfigs/:name/instantiatebinary",
    async (request, reply) => {
      const { ns, name } = request.params;
      const query = InstantiateBinaryQuery.safeParse(request.query ?? {});
      if (!query.success) throw new ValidationError(issuesFromZod(query.error));
      const bc = await getResource(db, "BuildConfig", ns, name);
      if (!bc) throw new NotFoundError("BuildConfig", ns, name);
      const body = request.body;
      if (!(body instanceof Readable))
        throw new ValidationError([
          { path: "body", message: "an application/octet-stream body is required" },
        ]);
      const kind = query.data.kind ?? (query.data.asFile ? "file" : "archive");
      // The BuildConfig's asFile wins over the client's, as in OpenShift.
      const asFile =
        kind === "file"
          ? ((bc.spec as BuildConfigSpec).source.binary?.asFile ?? query.data.asFile)
          : undefined;
      if (kind === "file" && !asFile)
        throw new ValidationError([{ path: "asFile", message: "required when kind is file" }]);

      const limit = options.binaryLimitBytes ?? 512 * 1024 * 1024;
      const tooLarge = () => {
        // Nothing more is stored, but what the client is still sending is read and dropped for up
        // to 10 s (a "lingering close"): closing at once resets the connection under a client
        // that is mid-upload, and it then never sees this 413, only "connection reset".
        body.unpipe();
        body.resume();
        const giveUp = setTimeout(() => body.destroy(), 10_000).unref();
        body.once("end", () => clearTimeout(giveUp));
        return reply.status(413).send({
          error: "PayloadTooLarge",
          message: `the upload is larger than ${limit} bytes (API_BINARY_LIMIT_BYTES)`,
        });
      };
      if (Number(request.headers["content-length"]) > limit) return tooLarge();

      const requestId = query.data.requestId ?? randomUUID();
      const hash = createHash("sha256");
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          size += chunk.length;
          if (size > limit)
            return callback(new PayloadTooLargeError(`the upload is larger than ${limit} bytes`));
          hash.update(chunk);
          callback(null, chunk);
        },
      });
      // pipe, not pipeline: a failed meter must not destroy the request socket before the 413 is sent.
      body.on("error", (error) => meter.destroy(error));
      meter.on("error", () => body.unpipe(meter));
      body.pipe(meter);
      try {
        await bus.putObject(
          "BUILD_INPUTS",
          requestId,
          Readable.toWeb(meter) as ReadableStream<Uint8Array>,
        );
      } catch (error) {
        if (size > limit) return tooLarge();
        throw error;
      }
      const binary = {
        object: requestId,
        kind,
        ...(asFile ? { asFile } : {}),
        size,
        sha256: hash.digest("hex"),
      };
      try {
        await requestBuild(bus, {
          requestId,
          namespace: ns,
          buildConfig: name,
          env: [],
          cause: {
            type: "Manual",
            message: `Binary build (${kind}${asFile ? ` ${asFile}` : ""}, ${size} bytes)`,
          },
          binary,
        });
      } catch (error) {
        // No build can ever read it: do not leave the upload to the TTL.
        await bus.deleteObject("BUILD_INPUTS", requestId).catch(() => undefined);
        throw error;
      }
      request.log.info({ requestId, kind, size }, "binary input stored");
      return answerWhenCreated(requestId, reply);
    },
  );

  app.post<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/builds/:name/cancel",
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

  app.get<{ Params: { ns: string; name: string }; Querystring: { follow?: string } }>(
    "/apis/v1/namespaces/:ns/builds/:name/log",
    async (request, reply) => {
      const build = await mustGetBuild(request.params.ns, request.params.name);
      const follow = request.query.follow === "true" || request.query.follow === "1";
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      });
      const controller = new AbortController();
      raw.on("close", () => controller.abort());
      try {
        await streamLog(build, follow && !isTerminalPhase(build.phase), raw, controller);
      } catch (error) {
        request.log.error({ err: error, buildId: build.id }, "log stream failed");
      } finally {
        raw.end();
      }
    },
  );

  /**
   * Writes a build's log. Following, it also watches the build: once it has ended, it reads
   * on until every stored batch is written (the runner stores all lines before the final
   * status), then ends the response.
   */
  async function streamLog(
    build: BuildRecord,
    follow: boolean,
    raw: ServerResponse,
    controller: AbortController,
  ): Promise<void> {
    let delivered = 0;
    const watcher = follow ? watchForEnd(build.id, () => delivered, controller) : Promise.resolve();
    for await (const batch of bus.read("build.log-appended", build.id, {
      follow,
      signal: controller.signal,
    })) {
      if (batch.lines.length > 0) raw.write(`${batch.lines.join("\n")}\n`);
      delivered += 1;
    }
    controller.abort();
    await watcher;
  }

  async function watchForEnd(
    buildId: string,
    delivered: () => number,
    controller: AbortController,
  ): Promise<void> {
    while (!controller.signal.aborted) {
      await sleep(200);
      const build = await getBuildById(db, buildId);
      if (!build || isTerminalPhase(build.phase)) {
        const total = await bus.count("build.log-appended", buildId);
        const until = Date.now() + 5_000;
        while (delivered() < total && Date.now() < until && !controller.signal.aborted)
          await sleep(20);
        controller.abort();
      }
    }
  }

  return app;
}
export type ApiServer = ReturnType<typeof createApiServer>;
