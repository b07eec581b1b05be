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
  ValidationError,
  Verb,
  type BuildConfigSpec,
  type NewBuildSpec,
} from "@kiln/domain";
import { backoffMs } from "@kiln/runtime";
import { needs } from "./access.js";
import { PayloadTooLargeError } from "./errors.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export interface BuildConfigRouteOptions {
  db: Db;
  bus: Bus;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starting a BuildConfig's build (`kiln start-build`): `instantiate`, and `instantiatebinary`
 * with an upload as the source. Both publish `build.requested` and answer with the build once
 * the scheduler has numbered it (201), or with the request id when it takes longer (202).
 */
export function registerBuildConfigRoutes(app: App, options: BuildConfigRouteOptions): void {
  const { db, bus, registry } = options;
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
      await requestBuild(bus, { requestId, ...build });
      return answerWhenCreated(requestId, reply);
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

  /** The scheduler numbers the build; wait for it so the CLI can print and follow `NAME-N`. */
  async function answerWhenCreated(requestId: string, reply: FastifyReply) {
    const until = Date.now() + options.instantiateWaitMs;
    // Looks again after 5 ms, 10 ms, … then every 100 ms: most builds are numbered at once.
    for (let attempt = 1; Date.now() < until; attempt++) {
      const build = await findBuildByRequestId(db, requestId);
      if (build) return reply.status(201).send(toBuildJson(build));
      await sleep(backoffMs(attempt, { baseMs: 5, maxMs: 100 }));
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
}
