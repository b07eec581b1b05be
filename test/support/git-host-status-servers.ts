import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * No git host can run here, so each of these is a local HTTP server that implements one
 * endpoint of one host, the commit status API, as that host's documentation describes it: the
 * path, the method, the auth header, the body's fields and state words, and the status codes
 * (docs.github.com "Create a commit status"; docs.gitlab.com "Commit API: Set the pipeline
 * status of a commit"; Gitea's swagger `repoCreateStatus`; developer.atlassian.com Bitbucket
 * Cloud "Create a build status for a commit"). Anything else answers 404. Each keeps the
 * statuses it accepted and every request it was sent, and can be told to fail the next ones.
 */

export type HostKind = "github" | "gitlab" | "gitea" | "bitbucket";

interface ReceivedStatus {
  /** Repository as the path named it (`owner/repo`; GitLab: the decoded project path). */
  repository: string;
  sha: string;
  /** The state word as sent (`pending`, `INPROGRESS`, …). */
  state: string;
  /** GitHub/Gitea `context`, GitLab `name`, Bitbucket `key`. */
  context: string;
  targetUrl: string | undefined;
  description: string | undefined;
}

interface SentRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** What the server answered. */
  status: number;
}

export interface StatusServer {
  kind: HostKind;
  /** The API base URL to put in `statusReporting.url`. */
  apiUrl: string;
  /** Statuses accepted, in order. */
  statuses: ReceivedStatus[];
  /** Every request, accepted or not. */
  requests: SentRequest[];
  /** The next `count` status requests get `status` (500 by default), with the request's Authorization echoed back. */
  failNext(count: number, status?: number): void;
  close(): Promise<void>;
}

type Answer = { status: number; body: unknown };
type Parsed = { repository: string; sha: string } | null;

interface HostDef {
  /** Path prefix of the API (`/api/v4`), which `apiUrl` ends with. */
  base: string;
  /** The repository and sha from the path of a POST to the one endpoint, or null. */
  route(path: string): Parsed;
  /** The token a request carries the way the host documents, or null. */
  token(headers: IncomingMessage["headers"]): string | null;
  unauthorized: Answer;
  /** Checks the body; an answer when it is refused. */
  accept(
    body: Record<string, unknown>,
    previous: ReceivedStatus | undefined,
  ): Answer | ReceivedStatus;
  created(status: ReceivedStatus, replaced: boolean): Answer;
}

const bearer = (headers: IncomingMessage["headers"], scheme: string) => {
  const value = headers.authorization ?? "";
  return value.startsWith(`${scheme} `) ? value.slice(scheme.length + 1) : null;
};

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

const hosts: Record<HostKind, HostDef> = {
  // POST /repos/{owner}/{repo}/statuses/{sha}; Authorization: Bearer (or the older `token`); 201, 422 on a bad state.
  github: {
    base: "",
    route: (path) => {
      const m = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path);
      return m ? { repository: `${m[1]}/${m[2]}`, sha: m[3]! } : null;
    },
    token: (h) => bearer(h, "Bearer") ?? bearer(h, "token"),
    unauthorized: { status: 401, body: { message: "Bad credentials" } },
    accept: (body) => {
      const state = str(body.state);
      if (!state || !["error", "failure", "pending", "success"].includes(state))
        return { status: 422, body: { message: "Validation Failed" } };
      return {
        repository: "",
        sha: "",
        state,
        context: str(body.context) ?? "default",
        targetUrl: str(body.target_url),
        description: str(body.description),
      };
    },
    created: (s) => ({
      status: 201,
      body: { state: s.state, context: s.context, target_url: s.targetUrl },
    }),
  },
  // POST /projects/:id/statuses/:sha (id: number or URL-encoded path); PRIVATE-TOKEN; 201; 400 for a
  // move its state machine does not make (the same state twice, running → pending).
  gitlab: {
    base: "/api/v4",
    route: (path) => {
      const m = /^\/api\/v4\/projects\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path);
      return m ? { repository: decodeURIComponent(m[1]!), sha: m[2]! } : null;
    },
    token: (h) =>
      typeof h["private-token"] === "string" ? h["private-token"] : bearer(h, "Bearer"),
    unauthorized: { status: 401, body: { message: "401 Unauthorized" } },
    accept: (body, previous) => {
      const state = str(body.state);
      const states = ["pending", "running", "success", "failed", "canceled", "skipped"];
      if (!state || !states.includes(state))
        return { status: 400, body: { error: "state does not have a valid value" } };
      const moves: Record<string, string[]> = {
        pending: ["running", "success", "failed", "canceled", "skipped"],
        running: ["success", "failed", "canceled"],
      };
      const from = previous?.state;
      if (from !== undefined && from in moves && !moves[from]!.includes(state))
        return {
          status: 400,
          body: { message: `Cannot transition status via :${state} from :${from}` },
        };
      return {
        repository: "",
        sha: "",
        state,
        context: str(body.name) ?? str(body.context) ?? "default",
        targetUrl: str(body.target_url),
        description: str(body.description),
      };
    },
    created: (s) => ({
      status: 201,
      body: { status: s.state, name: s.context, target_url: s.targetUrl },
    }),
  },
  // POST /api/v1/repos/{owner}/{repo}/statuses/{sha}; Authorization: token (or Bearer); 201.
  gitea: {
    base: "/api/v1",
    route: (path) => {
      const m = /^\/api\/v1\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path);
      return m ? { repository: `${m[1]}/${m[2]}`, sha: m[3]! } : null;
    },
    token: (h) => bearer(h, "token") ?? bearer(h, "Bearer"),
    unauthorized: { status: 401, body: { message: "token is required" } },
    accept: (body) => {
      const state = str(body.state);
      if (!state || !["pending", "success", "error", "failure", "warning"].includes(state))
        return { status: 422, body: { message: "invalid state" } };
      return {
        repository: "",
        sha: "",
        state,
        context: str(body.context) ?? "default",
        targetUrl: str(body.target_url),
        description: str(body.description),
      };
    },
    created: (s) => ({
      status: 201,
      body: { status: s.state, context: s.context, target_url: s.targetUrl },
    }),
  },
  // POST /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build; Bearer or Basic;
  // key, state and url required; 201, and an existing key's status is overwritten.
  bitbucket: {
    base: "/2.0",
    route: (path) => {
      const m =
        /^\/2\.0\/repositories\/([^/]+)\/([^/]+)\/commit\/([0-9a-f]{40})\/statuses\/build\/?$/.exec(
          path,
        );
      return m ? { repository: `${m[1]}/${m[2]}`, sha: m[3]! } : null;
    },
    token: (h) => {
      const basic = bearer(h, "Basic");
      if (basic === null) return bearer(h, "Bearer");
      const [user, ...password] = Buffer.from(basic, "base64").toString().split(":");
      return user ? password.join(":") : null;
    },
    unauthorized: { status: 401, body: { type: "error", error: { message: "Unauthorized" } } },
    accept: (body) => {
      const state = str(body.state);
      const missing = ["key", "state", "url"].filter((f) => str(body[f]) === undefined);
      if (missing.length > 0 || !["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"].includes(state!))
        return {
          status: 400,
          body: { type: "error", error: { message: `Bad request`, fields: missing } },
        };
      return {
        repository: "",
        sha: "",
        state: state!,
        context: str(body.key)!,
        targetUrl: str(body.url),
        description: str(body.description),
      };
    },
    created: (s, replaced) => ({
      status: replaced ? 200 : 201,
      body: { type: "commitstatus", key: s.context, state: s.state, url: s.targetUrl },
    }),
  },
};

/**
 * Starts the `kind` host's status endpoint on loopback. `tokens` are the tokens it accepts,
 * `repositories` the repositories it has (another gets 404, as a host answers for one it
 * does not have or hides).
 */
export async function startStatusServer(
  kind: HostKind,
  options: { tokens: string[]; repositories: string[] },
): Promise<StatusServer> {
  const def = hosts[kind];
  const statuses: ReceivedStatus[] = [];
  const requests: SentRequest[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };

  const answer = (req: IncomingMessage, text: string): Answer => {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = req.method === "POST" ? def.route(path) : null;
    if (!route) return { status: 404, body: { message: "Not Found" } };
    if (failures.count > 0) {
      failures.count -= 1;
      // Echoes what it was sent: whatever Kiln logs of an answer must still hold no token.
      return {
        status: failures.status,
        body: {
          message: `failing on purpose; you sent ${req.headers.authorization ?? req.headers["private-token"]}`,
        },
      };
    }
    const token = def.token(req.headers);
    if (token === null || !options.tokens.includes(token)) return def.unauthorized;
    if (!options.repositories.includes(route.repository))
      return { status: 404, body: { message: "Not Found" } };
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { status: 400, body: { message: "Problems parsing JSON" } };
    }
    const previous = statuses.findLast(
      (s) =>
        s.sha === route.sha &&
        s.repository === route.repository &&
        s.context === (str(body.name) ?? str(body.context) ?? str(body.key) ?? "default"),
    );
    const accepted = def.accept(body, previous);
    if ("status" in accepted) return accepted;
    const status = { ...accepted, repository: route.repository, sha: route.sha };
    statuses.push(status);
    return def.created(status, previous !== undefined);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      const { status, body } = answer(req, text);
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: text,
        status,
      });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    kind,
    apiUrl: `http://127.0.0.1:${port}${def.base}`,
    statuses,
    requests,
    failNext: (count, status = 500) => (failures = { count, status }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
