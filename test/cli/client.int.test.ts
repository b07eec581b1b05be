/**
 * The CLI against a real HTTP server speaking docs/api.md. The server below is a small stand-in
 * for Kiln's API that implements only the routes these tests use; the real API service is tested
 * on its own elsewhere. What is exercised here is the CLI's side: real fetch, real sockets,
 * chunked log streaming, error bodies, exit codes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "@kiln/cli";

const token = "test-token";

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}

function build(number: number, phase: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "Build",
    metadata: {
      name: `hello-${number}`,
      namespace: "default",
      creationTimestamp: new Date().toISOString(),
    },
    spec: {
      buildConfig: "hello",
      number,
      source: { type: "Git" },
      strategy: { type: "Docker" },
      revision: { commit: "0123456789" },
    },
    status: { phase, ...extra },
  };
}

class StandInApi {
  requests: Recorded[] = [];
  /** Resolved by the test's stdout when the first log chunk has reached it. */
  firstChunkSeen: () => void = () => undefined;
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const body = raw ? JSON.parse(raw) : undefined;
    this.requests.push({ method: req.method ?? "", url: req.url ?? "", body });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.headers.authorization !== `Bearer ${token}`) {
      return send(401, { error: "Unauthorized", message: "a valid bearer token is required" });
    }
    const ns = "/apis/v1/namespaces/default";
    const route = `${req.method} ${req.url}`;
    switch (route) {
      case "POST /apis/v1/apply": {
        const items = (
          body as { items: { kind: string; metadata: { name: string; namespace: string } }[] }
        ).items;
        const bad = items.findIndex((i) => i.metadata.name === "bad");
        if (bad >= 0) {
          return send(400, {
            error: "Invalid",
            message: "1 resource is invalid",
            details: [{ path: `items[${bad}].spec.strategy.type`, message: "required" }],
          });
        }
        return send(200, {
          items: items.map((i) => ({
            kind: i.kind,
            namespace: i.metadata.namespace,
            name: i.metadata.name,
            resourceVersion: "1",
            action: "created",
          })),
        });
      }
      case `GET ${ns}/buildconfigs`:
        return send(200, {
          items: [
            {
              kind: "BuildConfig",
              metadata: { name: "hello" },
              spec: { source: { type: "Git", git: { uri: "x" } }, strategy: { type: "Docker" } },
              status: { lastVersion: 2 },
            },
          ],
        });
      case `GET ${ns}/builds?buildConfig=hello`:
        return send(200, { items: [build(1, "Complete"), build(2, "Failed")] }); // deliberately not sorted by number
      case `POST ${ns}/buildconfigs/hello/instantiate`:
        return send(201, build(3, "New"));
      case `POST ${ns}/buildconfigs/slow/instantiate`:
        return send(202, { requestId: (body as { requestId: string }).requestId });
      case `GET ${ns}/builds/hello-3`:
        return send(
          200,
          build(3, "Failed", { reason: "FetchSourceFailed", message: "repository not found" }),
        );
      case `GET ${ns}/builds/hello-2/log`:
        res.writeHead(200, { "content-type": "text/plain" });
        return void res.end("log of hello-2\n");
      case `GET ${ns}/builds/hello-3/log?follow=true`: {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("step 1: cloning\n");
        // Hold the response open until the CLI has printed the first chunk: proves it streams.
        await new Promise<void>((r) => (this.firstChunkSeen = r));
        return void res.end("fatal: repository not found\n");
      }
      default:
        return send(404, { error: "NotFound", message: `${route} not found` });
    }
  }
}

function sink(onWrite?: (all: string) => void) {
  const s = {
    text: "",
    write(chunk: string) {
      s.text += chunk;
      onWrite?.(s.text);
      return true;
    },
  };
  return s;
}

describe("kiln CLI against an HTTP API", () => {
  const api = new StandInApi();
  let cwd: string;

  beforeAll(async () => {
    await api.start();
    cwd = mkdtempSync(join(tmpdir(), "kiln-cli-int-"));
  });
  afterAll(async () => {
    await api.stop();
    rmSync(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    api.requests = [];
  });

  async function kiln(
    argv: string[],
    options: { stdin?: string; env?: Record<string, string> } = {},
  ) {
    const stdout = sink((all) => {
      if (all.includes("step 1")) api.firstChunkSeen();
    });
    const stderr = sink();
    const code = await runCli(argv, {
      stdout,
      stderr,
      stdin: Readable.from([options.stdin ?? ""]),
      env: { KILN_API_URL: api.url, KILN_TOKEN: token, ...options.env },
      cwd,
      sleep: async () => undefined,
      exit: () => undefined,
    });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  it("applies every document from stdin in one request and prints what happened to each", async () => {
    const yaml =
      "apiVersion: kiln.dev/v1\nkind: ImageStream\nmetadata: {name: hello}\n---\napiVersion: kiln.dev/v1\nkind: BuildConfig\nmetadata: {name: hello}\nspec: {}\n";
    const r = await kiln(["apply", "-f", "-"], { stdin: yaml });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      "imagestream.kiln.dev/hello created\nbuildconfig.kiln.dev/hello created\n",
    );
    expect(api.requests).toHaveLength(1);
    const sent = api.requests[0]?.body as { items: { metadata: { namespace: string } }[] };
    expect(sent.items.map((i) => i.metadata.namespace)).toEqual(["default", "default"]);
  });

  it("sends nothing when a document has a syntax error", async () => {
    const r = await kiln(["apply", "-f", "-"], {
      stdin: "kind: A\n---\nkind: B\nmetadata:\n\tname: x\n",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: <stdin>:5: Tabs are not allowed as indentation\n");
    expect(api.requests).toHaveLength(0);
  });

  it("prints the API's error message and every detail path", async () => {
    const r = await kiln(["apply", "-f", "-"], {
      stdin: "kind: BuildConfig\nmetadata: {name: bad}\n",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: 1 resource is invalid\n  items[0].spec.strategy.type: required\n",
    );
  });

  it("lists BuildConfigs as a table", async () => {
    const r = await kiln(["get", "bc"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("NAME    TYPE     FROM   LATEST\nhello   Docker   Git    2\n");
  });

  it("follows a build's log as it streams and fails when the build fails", async () => {
    const r = await kiln(["start-build", "hello", "--follow", "--env", "A=1"]);
    expect(r.stdout).toBe(
      "build.kiln.dev/hello-3 started\nstep 1: cloning\nfatal: repository not found\n",
    );
    expect(r.stderr).toBe(
      "error: build hello-3 ended Failed (FetchSourceFailed): repository not found\n",
    );
    expect(r.code).toBe(1);
    const instantiate = api.requests.find((q) => q.url.endsWith("/instantiate"));
    expect(instantiate?.body).toMatchObject({
      env: [{ name: "A", value: "1" }],
      requestId: expect.any(String),
    });
  });

  it("explains that a build accepted with 202 cannot be waited for by name", async () => {
    const plain = await kiln(["start-build", "slow"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/accepted \(requestId [0-9a-f-]{36}\)/);
    const waiting = await kiln(["start-build", "slow", "--wait"]);
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toMatch(
      /^error: the build request for buildconfig slow was accepted .* no build exists yet/,
    );
  });

  it("shows the log of a BuildConfig's highest-numbered build", async () => {
    const r = await kiln(["logs", "bc/hello"]);
    expect(r).toEqual({ code: 0, stdout: "log of hello-2\n", stderr: "" });
  });

  it("reports a rejected token with the API's message", async () => {
    const r = await kiln(["get", "builds"], { env: { KILN_TOKEN: "wrong" } });
    expect(r).toMatchObject({ code: 1, stderr: "error: a valid bearer token is required\n" });
  });

  it("says plainly when nothing listens at the API URL", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const url = `http://127.0.0.1:${port}`;
    const r = await kiln(["get", "bc"], { env: { KILN_API_URL: url } });
    expect(r).toMatchObject({
      code: 1,
      stderr: `error: cannot reach the Kiln API at ${url}: is \`kiln up\` running?\n`,
    });
  });
});
