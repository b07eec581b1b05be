import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname } from "node:path";

/** A started HTTP server and its base URL. */
export interface Served {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<Served> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * Serves the repository at `repoDir` over git's smart HTTP protocol, as a git host does, by
 * running git's own `git http-backend` (CGI) for each request: `<url>/<basename of repoDir>`.
 */
export async function serveGitOverHttp(repoDir: string): Promise<Served & { repoUrl: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://git");
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: dirname(repoDir),
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        REQUEST_METHOD: req.method,
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        ...(req.headers["git-protocol"]
          ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) }
          : {}),
        REMOTE_ADDR: "127.0.0.1",
      },
    });
    req.pipe(cgi.stdin);
    const out: Buffer[] = [];
    cgi.stdout.on("data", (d: Buffer) => out.push(d));
    cgi.on("close", () => {
      const all = Buffer.concat(out);
      const end = all.indexOf("\r\n\r\n");
      const head = all.subarray(0, end).toString().split("\r\n");
      let status = 200;
      for (const line of head) {
        const [name, ...rest] = line.split(":");
        const value = rest.join(":").trim();
        if (name!.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else res.setHeader(name!, value);
      }
      res.writeHead(status).end(all.subarray(end + 4));
    });
  });
  const served = await listen(server);
  return { ...served, repoUrl: `${served.url}/${basename(repoDir)}` };
}

/**
 * A forward HTTP proxy (absolute-form requests, as git and curl send through `http_proxy`)
 * that records the URL of each request it carries. CONNECT is recorded and refused.
 */
export async function startForwardProxy(): Promise<Served & { requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const upstream = request(req.url!, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on("connect", (req, socket) => {
    requests.push(`CONNECT ${req.url}`);
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  return { ...(await listen(server)), requests };
}
