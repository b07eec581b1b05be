import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Readable, Transform } from "node:stream";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { requestBuild, type Bus } from "@kiln/bus";
import { findBuildByRequestId, getResource, toBuildJson, type Db } from "@kiln/db";
import {
  AccessResource,
  envName,
  issuesFromZod,
  newBuildSizeIssue,
  NotFoundError,
  parseBuildName,
  ValidationError,
  Verb,
  type BuildConfigSpec,
  type NewBuildSpec,
} from "@kiln/domain";
import { needs } from "./access.js";
import type { BusRelay } from "./bus-relay.js";
import { PayloadTooLargeError } from "./errors.js";
import { waitForBuildStatus } from "./status-watch.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export interface BuildConfigRouteOptions {
  db: Db;
  bus: Bus;
  /** Where a start hears its build's New. */
  relay: BusRelay;
  /** Kiln's registry: a build's size is weighed with its image names. */
  registry: string;
  /** How long a start waits for the scheduler to create the build before answering 202. */
  instantiateWaitMs: number;
  /** Largest upload `instantiatebinary` accepts (API_BINARY_LIMIT_BYTES). */
  binaryLimitBytes: number;
}

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

/**
 * Starting a BuildConfig's build (`kiln start-build`): `instantiate`, and `instantiatebinary`
 * with an upload as the source. Both publish `build.requested` and answer with the build once
 * the scheduler has numbered it (201), or with the request id when it takes longer (202).
 */
export function registerBuildConfigRoutes(app: App, options: BuildConfigRouteOptions): void {
  const { db, bus, relay, registry } = options;
  const startBuilds = needs({ verb: Verb.Start, resource: AccessResource.Builds });

  app.post<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/buildconfigs/:name/instantiate",
    startBuilds,
    async (request, reply) => {
      const { ns, name } = request.params;
      const parsed = InstantiateBody.safeParse(request.body ?? {});
      if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
      const bc = await getResource(db, "BuildConfig", ns, name);
      if (!bc) throw new NotFoundError("BuildConfig", ns, name);
      const requestId = parsed.data.requestId ?? randomUUID();
      const build = {
        namespace: ns,
        buildConfig: name,
        commit: parsed.data.commit,
        env: parsed.data.env,
        cause: { type: "Manual", message: "Manually triggered" },
      } as const;
      refuseUncarriable(bc.spec as BuildConfigSpec, build);
      return startAndAnswer({ requestId, namespace: ns, buildConfig: name }, reply, () =>
        requestBuild(bus, { requestId, ...build }),
      );
    },
  );

  /**
   * Refuses (400, naming the field and the limit) a build whose spec would be too large for the
   * bus to carry to a runner: weighed as the scheduler will make it, before anything is sent.
   */
  function refuseUncarriable(spec: BuildConfigSpec, build: Omit<NewBuildSpec, "number">): void {
    const issue = newBuildSizeIssue(spec, build, registry);
    if (issue) throw new ValidationError([issue]);
  }

  /**
   * Publishes the request (`publish`) and answers with the build once the scheduler has
   * numbered it (201), so the CLI can print and follow `NAME-N`; 202 with the request id when
   * that takes longer than instantiateWaitMs. The scheduler announces a build's `New` once it is
   * stored; that event names the build, not the request, so one of this BuildConfig's `New`s
   * makes it look the request up again.
   */
  async function startAndAnswer(
    target: { requestId: string; namespace: string; buildConfig: string },
    reply: FastifyReply,
    publish: () => Promise<unknown>,
  ) {
    const { requestId, namespace, buildConfig } = target;
    const waiting = new AbortController();
    // Listening before the request is published: its build's New cannot come before.
    const created = waitForBuildStatus(relay, {
      concerns: (event) =>
        event.phase === "New" &&
        event.namespace === namespace &&
        parseBuildName(event.name)?.buildConfig === buildConfig,
      // Also finds the build of a request id sent again, whose New was heard long ago.
      look: () => findBuildByRequestId(db, requestId),
      signal: waiting.signal,
    });
    // Its failure is awaited below; until then it must not count as unhandled.
    created.catch(() => undefined);
    try {
      await publish();
    } catch (error) {
      waiting.abort();
      throw error;
    }
    const giveUp = setTimeout(() => waiting.abort(), options.instantiateWaitMs);
    const build = await created.finally(() => clearTimeout(giveUp));
    if (build) return reply.status(201).send(toBuildJson(build));
    return reply.status(202).send({ requestId });
  }

  /**
   * A binary build (OpenShift's `instantiatebinary`): the body is streamed into the
   * BUILD_INPUTS object store under the request id, then `build.requested` names that object.
   * Over the limit, reading stops, the partial object is deleted and nothing is published.
   */
  app.post<{ Params: { ns: string; name: string }; Querystring: Record<string, string> }>(
    "/apis/v1/namespaces/:ns/buildconfigs/:name/instantiatebinary",
    // Checked before the upload is read: a refused caller's bytes are never stored.
    startBuilds,
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
      // Before a byte is stored: the upload itself travels out of band, the rest must fit.
      refuseUncarriable(bc.spec as BuildConfigSpec, {
        namespace: ns,
        buildConfig: name,
        env: [],
        cause: { type: "Manual", message: "Binary build" },
      });

      const limit = options.binaryLimitBytes;
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
        uploadedAt: new Date().toISOString(),
      };
      return startAndAnswer({ requestId, namespace: ns, buildConfig: name }, reply, async () => {
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
      });
    },
  );
}
