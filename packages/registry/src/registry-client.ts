import { createHash } from "node:crypto";
import { RegistryError, RegistryFailure } from "./errors.js";

/** Every manifest and index type a tag may point at, so the registry never converts one (and changes its digest). */
export const acceptManifests = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** One repository of one registry, and how to reach it. */
export interface RegistryRepository {
  /** `host[:port]` as it is dialled (Docker Hub is `registry-1.docker.io`). */
  host: string;
  repository: string;
  /** Plain HTTP (a registry listed as insecure) instead of HTTPS. */
  insecure: boolean;
  /** base64 `user:password` (see `basicCredentialsFor`); without it, anonymous. */
  basicAuth?: string | undefined;
}

export interface FetchedManifest {
  /** `sha256:…` of the exact bytes the registry holds. */
  digest: string;
  bytes: Buffer;
  mediaType: string | null;
}

export interface RegistryClientOptions {
  /** Per request. @default 10000 */
  timeoutMs?: number;
}

/**
 * The few calls of the registry HTTP API (distribution spec) Kiln makes itself, in-process,
 * where a skopeo or buildah process would cost more than the answer: a tag's digest, a
 * manifest's bytes, a config blob. Credentials go as basic auth, or buy a bearer token when the
 * registry answers 401 with a `Bearer` challenge (Docker Hub, Quay, GHCR, Harbor), anonymous
 * or with those credentials.
 */
export class RegistryClient {
  private readonly timeoutMs: number;
  /** Bearer tokens by repository and credentials. */
  private readonly tokens = new Map<string, CachedToken>();

  constructor(options: RegistryClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The digest a manifest reference (tag or digest) points at: a HEAD, or a GET and a hash when the registry leaves the digest header out. */
  async manifestDigest(
    repo: RegistryRepository,
    reference: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const head = await this.request(
      repo,
      "HEAD",
      `manifests/${encodeURIComponent(reference)}`,
      acceptManifests,
      signal,
    );
    await head.body?.cancel();
    const digest = head.headers.get("docker-content-digest");
    if (digest && /^sha256:[0-9a-f]{64}$/.test(digest)) return digest;
    return (await this.manifest(repo, reference, signal)).digest;
  }

  /** A manifest's exact bytes and their digest. */
  async manifest(
    repo: RegistryRepository,
    reference: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const res = await this.request(
      repo,
      "GET",
      `manifests/${encodeURIComponent(reference)}`,
      acceptManifests,
      signal,
    );
    const bytes = Buffer.from(await res.arrayBuffer());
    return { digest: sha256(bytes), bytes, mediaType: res.headers.get("content-type") };
  }

  /** A blob (an image config), checked against its digest. */
  async blob(repo: RegistryRepository, digest: string, signal?: AbortSignal): Promise<Buffer> {
    const res = await this.request(repo, "GET", `blobs/${digest}`, "*/*", signal);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (sha256(bytes) !== digest)
      throw new RegistryError(
        RegistryFailure.Unavailable,
        `${repo.host}/${repo.repository}`,
        `blob ${digest} does not match its digest`,
      );
    return bytes;
  }

  /**
   * Whether the registry lets these credentials (or an anonymous caller) in, `GET /v2/`:
   * resolves when it does; a `RegistryError` otherwise (`Unauthorized` for refused
   * credentials). What a service asks once at start, so a wrong password is said at once.
   */
  async checkAccess(
    registry: Omit<RegistryRepository, "repository">,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.request({ ...registry, repository: "" }, "GET", "", "*/*", signal);
    await res.body?.cancel();
  }

  /** Whether the repository holds a blob (a HEAD: nothing is transferred). */
  async hasBlob(repo: RegistryRepository, digest: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const res = await this.request(repo, "HEAD", `blobs/${digest}`, "*/*", signal);
      await res.body?.cancel();
      return true;
    } catch (error) {
      if (error instanceof RegistryError && error.reason === RegistryFailure.NotFound) return false;
      throw error;
    }
  }

  /**
   * Asks the registry to link a blob another repository of it holds (a cross-repository mount,
   * nothing transferred): true when it did; false when it refused (it then opens an upload,
   * which is cancelled), so the caller uploads the bytes instead.
   */
  async mountBlob(
    repo: RegistryRepository,
    digest: string,
    fromRepository: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.request(repo, "POST", `blobs/uploads/?${query}`, "*/*", signal);
    await res.body?.cancel();
    if (res.status === 201) return true;
    const location = res.headers.get("location");
    if (location)
      await this.send(repo, "DELETE", this.absolute(repo, location), "*/*", signal).catch(
        () => undefined,
      );
    return false;
  }

  /** Uploads a blob in one request (POST for a session, then PUT with the bytes and their digest). */
  async uploadBlob(
    repo: RegistryRepository,
    digest: string,
    bytes: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> {
    const started = await this.request(repo, "POST", "blobs/uploads/", "*/*", signal);
    await started.body?.cancel();
    const location = started.headers.get("location");
    if (!location)
      throw new RegistryError(
        RegistryFailure.Unavailable,
        `${repo.host}/${repo.repository}`,
        "the registry opened an upload without a Location",
      );
    const url = new URL(this.absolute(repo, location));
    url.searchParams.set("digest", digest);
    const res = await this.send(repo, "PUT", url.toString(), "*/*", signal, {
      body: bytes,
      contentType: "application/octet-stream",
    });
    await res.body?.cancel();
  }

  /** Puts a manifest under a tag (or digest); returns the digest of its bytes. */
  async putManifest(
    repo: RegistryRepository,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const res = await this.request(
      repo,
      "PUT",
      `manifests/${encodeURIComponent(reference)}`,
      "*/*",
      signal,
      { body: bytes, contentType: mediaType },
    );
    await res.body?.cancel();
    return sha256(Buffer.from(bytes));
  }

  /** A Location header (relative or absolute) as an absolute URL on the repository's registry. */
  private absolute(repo: RegistryRepository, location: string): string {
    return new URL(location, `${repo.insecure ? "http" : "https"}://${repo.host}`).toString();
  }

  /**
   * One request, with the token dance on a 401; anything but a 2xx is a `RegistryError`. A
   * token bought for a repository (and these credentials) is reused until it expires or the
   * registry refuses it (a pull token asked to push: the next challenge names the push scope).
   */
  private request(
    repo: RegistryRepository,
    method: Method,
    path: string,
    accept: string,
    signal?: AbortSignal,
    body?: RequestBody,
  ): Promise<Response> {
    // No repository: the registry's base endpoint (`checkAccess`).
    const below = repo.repository ? `${repo.repository}/${path}` : path;
    const url = `${repo.insecure ? "http" : "https"}://${repo.host}/v2/${below}`;
    return this.send(repo, method, url, accept, signal, body, path);
  }

  private async send(
    repo: RegistryRepository,
    method: Method,
    url: string,
    accept: string,
    signal?: AbortSignal,
    body?: RequestBody,
    /** What a not-found message names. */
    path = new URL(url).pathname,
  ): Promise<Response> {
    const name = repo.repository ? `${repo.host}/${repo.repository}` : repo.host;
    const tokenKey = `${name}\n${repo.basicAuth ?? ""}`;
    const send = (authorization?: string) =>
      fetch(url, {
        method,
        headers: {
          accept,
          ...(authorization ? { authorization } : {}),
          ...(body ? { "content-type": body.contentType } : {}),
        },
        ...(body ? { body: body.body } : {}),
        signal: this.signal(signal),
        redirect: "follow",
      });
    try {
      const cached = this.tokens.get(tokenKey);
      let res = await send(
        cached && cached.expiresAt > Date.now()
          ? `Bearer ${cached.token}`
          : repo.basicAuth
            ? `Basic ${repo.basicAuth}`
            : undefined,
      );
      if (res.status === 401) {
        await res.body?.cancel();
        this.tokens.delete(tokenKey);
        const token = await this.bearerToken(
          name,
          res.headers.get("www-authenticate"),
          repo.basicAuth,
          signal,
        );
        if (token) {
          if (this.tokens.size >= maxCachedTokens) this.tokens.clear();
          this.tokens.set(tokenKey, token);
          res = await send(`Bearer ${token.token}`);
        }
      }
      if (res.ok) return res;
      await res.body?.cancel();
      if (res.status === 404)
        throw new RegistryError(RegistryFailure.NotFound, name, `${path} not found`);
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError(
          RegistryFailure.Unauthorized,
          name,
          repo.basicAuth
            ? `unauthorized: the registry refused these credentials (${res.status})`
            : `the registry refused anonymous access (${res.status})`,
        );
      }
      throw new RegistryError(
        RegistryFailure.Unavailable,
        name,
        `the registry answered ${res.status}`,
      );
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      if (signal?.aborted) throw signal.reason;
      throw new RegistryError(
        RegistryFailure.Unavailable,
        name,
        "the registry could not be reached",
        { cause: error },
      );
    }
  }

  /**
   * `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → a token (for these
   * credentials, if any), or null when the challenge is not a bearer one. A token service that
   * refuses the credentials is `Unauthorized`.
   */
  private async bearerToken(
    name: string,
    challenge: string | null,
    basicAuth: string | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken | null> {
    if (!challenge || !/^bearer\s/i.test(challenge)) return null;
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]),
    );
    if (!params.realm) return null;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    if (params.scope) url.searchParams.set("scope", params.scope);
    const res = await fetch(url, {
      headers: basicAuth ? { authorization: `Basic ${basicAuth}` } : {},
      signal: this.signal(signal),
    });
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError(
          RegistryFailure.Unauthorized,
          name,
          `the token service ${url.host} refused ${basicAuth ? "these credentials" : "anonymous access"} (${res.status})`,
        );
      }
      return null;
    }
    const body = (await res.json()) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    // The spec's default lifetime is 60 s; keep a margin for the request it is used in.
    return token ? { token, expiresAt: Date.now() + ((body.expires_in ?? 60) - 10) * 1000 } : null;
  }

  private signal(outer?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return outer ? AbortSignal.any([outer, timeout]) : timeout;
  }
}

type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
interface RequestBody {
  body: Uint8Array;
  contentType: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}
const maxCachedTokens = 256;

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
