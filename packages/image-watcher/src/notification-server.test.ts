import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { createDatabase, type Database } from "@kiln/db";
import { ServiceHealth } from "@kiln/runtime";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ManifestResolver } from "./manifest-resolver.js";
import { NotificationReceiver } from "./notification-receiver.js";
import { NotificationServer } from "./notification-server.js";
import { TagRecorder } from "@kiln/image-tags";

const limit = 1024;
const token = "s3cret";
/** What the readiness check says: null (up), or what is down. */
let down: string | null = null;
const logLines: { msg: string; source?: string }[] = [];
// A database nothing listens for: a notification that reaches it fails, as when PostgreSQL is down.
let database: Database;
let stop: () => Promise<void>;
let port: number;

beforeAll(async () => {
  database = createDatabase("postgres://kiln@127.0.0.1:9/none");
  const logger = pino(
    { level: "error" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    }),
  );
  const receiver = new NotificationReceiver({
    db: database.db,
    // Never reached: every notification here is refused, ignored, or fails at the database first.
    recorder: new TagRecorder({ db: database.db, bus: undefined as never, logger }),
    resolver: new ManifestResolver(),
    logger,
    kilnRegistry: "127.0.0.1:15000",
    insecureRegistries: [],
    tokens: { harbor: token, dockerhub: token },
  });
  const server = new NotificationServer({
    host: "127.0.0.1",
    port: 0,
    receiver,
    logger,
    // Never reused: each call sees what the test set just before it.
    health: new ServiceHealth({ ready: { postgres: () => down }, readyCacheMs: 0 }),
    bodyLimitBytes: limit,
  });
  port = await server.start();
  stop = () => server.stop();
});
afterAll(async () => {
  await stop();
  await database.close();
});

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

function call(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; chunked?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: options.headers });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    if (options.body !== undefined) {
      if (!options.chunked) req.setHeader("content-length", Buffer.byteLength(options.body));
      // Chunked: in pieces, as a client that does not say the size up front sends it.
      for (let i = 0; i < options.body.length; i += 256) req.write(options.body.slice(i, i + 256));
    }
    req.end();
  });
}

const json = (status: number, body: unknown) => ({
  status,
  // Fastify adds `; charset=utf-8`, as the api's and the webhook receiver's answers have it.
  contentType: expect.stringMatching(/^application\/json(; charset=utf-8)?$/) as unknown,
  body: JSON.stringify(body),
});
const distribution = { "content-type": "application/vnd.docker.distribution.events.v1+json" };
const event = (action: string) =>
  JSON.stringify({
    events: [
      {
        id: "e1",
        action,
        target: {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          repository: "default/app",
          tag: "latest",
        },
        request: { host: "127.0.0.1:15000" },
      },
    ],
  });

describe("the image-watcher's HTTP server", () => {
  test("answers /healthz with its liveness and /readyz with its readiness, whatever the method", async () => {
    down = null;
    const live = { status: "ok", checks: { eventLoop: "ok" } };
    expect(await call("GET", "/healthz")).toEqual(json(200, live));
    expect(await call("POST", "/healthz")).toEqual(json(200, live));
    expect(await call("HEAD", "/readyz")).toMatchObject({ status: 200 });
    down = "unreachable: connect ECONNREFUSED 127.0.0.1:5432";
    expect(await call("GET", "/readyz")).toEqual(
      json(503, { status: "unready", checks: { postgres: down } }),
    );
    // Unready is not dead: the process is kept.
    expect(await call("GET", "/healthz")).toEqual(json(200, live));
    down = null;
  });

  test("routes notifications by source, POST only, and names a path it does not serve", async () => {
    expect(await call("GET", "/registry/notifications")).toEqual(
      json(405, { error: "MethodNotAllowed", message: "POST only" }),
    );
    expect(await call("PUT", "/registry/notifications/quay", { body: "{}" })).toEqual(
      json(405, { error: "MethodNotAllowed", message: "POST only" }),
    );
    for (const path of [
      "/registry/notifications/gitlab",
      "/registry/notifications/",
      "/registry/notifications/harbor/extra",
      "/registry",
      "/",
    ])
      expect(await call("POST", path, { body: "{}" })).toEqual(
        json(404, { error: "NotFound", message: `no route ${path}` }),
      );
    // Refused before the body is read, however large it is.
    const large = "x".repeat(limit + 1);
    expect(await call("PUT", "/registry/notifications", { body: large })).toEqual(
      json(405, { error: "MethodNotAllowed", message: "POST only" }),
    );
    expect(await call("POST", "/registry/notifications/gitlab", { body: large })).toEqual(
      json(404, { error: "NotFound", message: "no route /registry/notifications/gitlab" }),
    );
    expect(await call("POST", "/nowhere", { body: large })).toEqual(
      json(404, { error: "NotFound", message: "no route /nowhere" }),
    );
    expect(await call("GET", "/nowhere?x=1")).toEqual(
      json(404, { error: "NotFound", message: "no route /nowhere" }),
    );
  });

  test("hands the body to the receiver and answers what it says", async () => {
    expect(
      await call("POST", "/registry/notifications", { body: event("pull"), headers: distribution }),
    ).toEqual(json(200, { hints: 0, ignored: 1, duplicates: 0, recorded: 0, changed: 0 }));
    expect(
      await call("POST", "/registry/notifications", {
        body: "{}",
        headers: { "content-type": "text/plain" },
      }),
    ).toEqual(
      json(400, {
        error: "InvalidNotification",
        message: `unsupported content type "text/plain" (want application/vnd.docker.distribution.events.v1+json or application/vnd.docker.distribution.events.v2+json)`,
      }),
    );
    expect(await call("POST", "/registry/notifications", { body: "" })).toMatchObject({
      status: 400,
    });
    // A header that is no media type at all is Fastify's 415, before the receiver reads anything.
    expect(
      await call("POST", "/registry/notifications/harbor", {
        body: "{}",
        headers: { "content-type": "garbage" },
      }),
    ).toMatchObject({
      status: 415,
      body: expect.stringContaining('"UnsupportedMediaType"') as unknown,
    });
  });

  test("refuses a source's notification without its token, by header or (Docker Hub) query", async () => {
    const unauthorized = json(401, {
      error: "Unauthorized",
      message: "a valid bearer token is required",
    });
    expect(await call("POST", "/registry/notifications/harbor", { body: "{}" })).toEqual(
      unauthorized,
    );
    expect(
      await call("POST", "/registry/notifications/harbor", {
        body: "{}",
        headers: { authorization: "Bearer wrong" },
      }),
    ).toEqual(unauthorized);
    expect(
      await call("POST", "/registry/notifications/dockerhub?token=wrong", { body: "{}" }),
    ).toEqual(unauthorized);
    // With the token the body is read: this one is not a Docker Hub webhook.
    expect(
      await call("POST", `/registry/notifications/dockerhub?token=${token}`, { body: "{}" }),
    ).toMatchObject({ status: 400 });
    expect(
      await call("POST", "/registry/notifications/harbor", {
        body: "{}",
        headers: { authorization: `Bearer ${token}` },
      }),
    ).toMatchObject({ status: 400 });
  });

  test("refuses a body over the limit, said up front or not", async () => {
    const tooLarge = json(413, {
      error: "PayloadTooLarge",
      message: `the body is larger than ${limit} bytes`,
    });
    const body = "x".repeat(limit + 1);
    expect(await call("POST", "/registry/notifications", { body, headers: distribution })).toEqual(
      tooLarge,
    );
    expect(
      await call("POST", "/registry/notifications", { body, headers: distribution, chunked: true }),
    ).toEqual(tooLarge);
    // At the limit it is read.
    expect(
      await call("POST", "/registry/notifications", {
        body: "x".repeat(limit),
        headers: distribution,
      }),
    ).toMatchObject({ status: 400 });
  });

  test("answers 500 and logs when the receiver fails while its dependencies are up", async () => {
    expect(
      await call("POST", "/registry/notifications", { body: event("push"), headers: distribution }),
    ).toEqual(json(500, { error: "InternalError", message: "see the image-watcher log" }));
    expect(logLines).toContainEqual(
      expect.objectContaining({ msg: "registry notification failed", source: "distribution" }),
    );
  });

  test("answers 503 with a Retry-After when it fails while PostgreSQL is down", async () => {
    down = "unreachable: connect ECONNREFUSED 127.0.0.1:9";
    const answer = await new Promise<{ status: number; retryAfter: unknown; body: string }>(
      (resolve, reject) => {
        const req = httpRequest({
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/registry/notifications",
          headers: distribution,
        });
        req.on("error", reject);
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"], body }),
          );
        });
        req.end(event("push"));
      },
    );
    expect(answer).toEqual({
      status: 503,
      retryAfter: "5",
      body: JSON.stringify({
        error: "ServiceUnavailable",
        message: `the notification could not be handled now (postgres: ${down})`,
      }),
    });
    down = null;
  });
});

describe("a slow sender", () => {
  test("that sends half a request is cut off within the timeouts, while a whole one is answered", async () => {
    const logger = pino({ level: "silent" });
    const timeouts = {
      headersTimeoutMs: 300,
      requestTimeoutMs: 800,
      idleTimeoutMs: 500,
      keepAliveTimeoutMs: 500,
    };
    const server = new NotificationServer({
      host: "127.0.0.1",
      port: 0,
      receiver: new NotificationReceiver({
        db: database.db,
        recorder: new TagRecorder({ db: database.db, bus: undefined as never, logger }),
        resolver: new ManifestResolver(),
        logger,
        kilnRegistry: "127.0.0.1:15000",
        insecureRegistries: [],
        tokens: {},
      }),
      logger,
      health: new ServiceHealth({ ready: {} }),
      timeouts,
    });
    const slowPort = await server.start();
    /** Milliseconds until the server closes a connection that sent `text` and then nothing. */
    const heldFor = (text: string) =>
      new Promise<{ ms: number; received: string }>((resolve) => {
        const started = Date.now();
        let received = "";
        const socket = connect(slowPort, "127.0.0.1", () => socket.write(text));
        socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
        socket.on("error", () => undefined);
        socket.on("close", () => resolve({ ms: Date.now() - started, received }));
      });
    try {
      const halfHeaders = heldFor("POST /registry/notifications HTTP/1.1\r\nHost: x\r\n");
      const halfBody = heldFor(
        "POST /registry/notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{",
      );
      const healthz = await fetch(`http://127.0.0.1:${slowPort}/healthz`);
      expect(healthz.status).toBe(200);
      const headers = await halfHeaders;
      expect(headers.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(headers.ms).toBeGreaterThanOrEqual(250);
      expect(headers.ms).toBeLessThan(300 + 1_000);
      const body = await halfBody;
      expect(body.ms).toBeGreaterThanOrEqual(450);
      expect(body.ms).toBeLessThan(800 + 1_000);
    } finally {
      await server.stop();
    }
  });
});
