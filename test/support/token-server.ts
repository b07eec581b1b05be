import { execFile } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** One scope a client asked for (`repository:apps/web:pull,push`) and what it got. */
interface TokenGrant {
  type: string;
  name: string;
  actions: string[];
}

/** One request the token server answered. */
export interface TokenRequest {
  /** `anonymous`, a known user, or the user name of refused credentials. */
  account: string;
  /** The `scope` parameters as sent. */
  scopes: string[];
  /** Who asked: `containers/…` for skopeo and buildah, something else for Kiln's own HTTP client. */
  userAgent: string;
  /** 200 with a token, 401 for refused credentials, 400 for another service. */
  status: number;
  granted: TokenGrant[];
}

export interface TokenServerOptions {
  /** Directory for the signing key and certificate (`token-signer.key`, `token-signer.pem`). */
  dir: string;
  /** The registry's `service`: the `aud` of every token. */
  service: string;
  /** The registry's `issuer`: the `iss` of every token. */
  issuer: string;
  /** user → password, checked against the basic `Authorization` header. */
  users: Record<string, string>;
  /** The actions an account (`anonymous` or a user) may have on a repository. */
  allow(account: string, repository: string): readonly string[];
  /** @default 300 */
  tokenTtlSeconds?: number;
}

/**
 * A Docker token server (the `realm` of a registry in token-auth mode, as auth.docker.io is
 * Docker Hub's): `GET /token?service=…&scope=…` answers `{"token","access_token"}`, a JWT
 * signed RS256 with a self-signed certificate (made with openssl) whose PEM is
 * `rootCertBundle`, carried in the `x5c` header. Anonymous requests get what `allow` gives
 * `anonymous` (possibly nothing, as Docker Hub does for private repositories); requests with
 * basic credentials that do not match get 401.
 */
export class TokenServer {
  readonly requests: TokenRequest[] = [];
  /** PEM certificate the registry trusts (`auth.token.rootcertbundle`). */
  readonly rootCertBundle: string;
  private url_ = "";
  private readonly server = createServer((req, res) => this.handle(req, res));

  private constructor(
    private readonly options: TokenServerOptions,
    private readonly key: KeyObject,
    private readonly x5c: string,
    certFile: string,
  ) {
    this.rootCertBundle = certFile;
  }

  static async start(options: TokenServerOptions): Promise<TokenServer> {
    const keyFile = join(options.dir, "token-signer.key");
    const certFile = join(options.dir, "token-signer.pem");
    await exec("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-sha256",
      "-days",
      "2",
      "-subj",
      `/CN=${options.issuer}`,
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]);
    const key = createPrivateKey(await readFile(keyFile));
    const cert = new X509Certificate(await readFile(certFile));
    const server = new TokenServer(options, key, cert.raw.toString("base64"), certFile);
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.server.listen(0, "127.0.0.1", () => resolve());
    });
    server.url_ = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    return server;
  }

  /** The registry's `realm`. */
  get realm(): string {
    return `${this.url_}/token`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url_);
    const scopes = url.searchParams
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .filter((s) => s !== "");
    const answer = (status: number, body: unknown, account: string, granted: TokenGrant[] = []) => {
      this.requests.push({
        account,
        scopes,
        userAgent: req.headers["user-agent"] ?? "",
        status,
        granted,
      });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" || url.pathname !== "/token")
      return answer(404, { errors: [{ code: "NOT_FOUND" }] }, "anonymous");
    if (url.searchParams.get("service") !== this.options.service) {
      return answer(
        400,
        { errors: [{ code: "UNSUPPORTED", message: "unknown service" }] },
        "anonymous",
      );
    }

    let account = "anonymous";
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const basic = /^basic\s+(\S+)$/i.exec(authorization);
      const decoded = basic ? Buffer.from(basic[1]!, "base64").toString("utf8") : "";
      const colon = decoded.indexOf(":");
      const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
      const password = colon >= 0 ? decoded.slice(colon + 1) : "";
      if (!Object.hasOwn(this.options.users, user) || this.options.users[user] !== password) {
        return answer(
          401,
          { errors: [{ code: "UNAUTHORIZED", message: "incorrect username or password" }] },
          user || "(malformed)",
        );
      }
      account = user;
    }

    const granted: TokenGrant[] = [];
    for (const scope of scopes) {
      // type:name:actions, where a name may hold a port (`host:5000/x`): split on the first and last colon.
      const first = scope.indexOf(":");
      const last = scope.lastIndexOf(":");
      if (first < 0 || last === first) continue;
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const asked = scope.slice(last + 1).split(",");
      if (type !== "repository") continue;
      const allowed = this.options.allow(account, name);
      const actions = asked.filter((a) => allowed.includes(a));
      if (actions.length > 0) granted.push({ type, name, actions });
    }

    const now = Math.floor(Date.now() / 1000);
    const ttl = this.options.tokenTtlSeconds ?? 300;
    const token = this.jwt({
      iss: this.options.issuer,
      sub: account === "anonymous" ? "" : account,
      aud: this.options.service,
      exp: now + ttl,
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access: granted,
    });
    answer(
      200,
      {
        token,
        access_token: token,
        expires_in: ttl,
        issued_at: new Date(now * 1000).toISOString(),
      },
      account,
      granted,
    );
  }

  private jwt(claims: Record<string, unknown>): string {
    const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const input = `${b64url({ typ: "JWT", alg: "RS256", x5c: [this.x5c] })}.${b64url(claims)}`;
    return `${input}.${sign("sha256", Buffer.from(input), this.key).toString("base64url")}`;
  }
}
