import { createHash } from "node:crypto";
import { ManifestNotFoundError, ManifestUnavailableError } from "./errors.js";
import { dockerHubRegistry, tagReference, type ImageName } from "./image-ref.js";

/** Every manifest and index type a tag may point at, so the registry never converts it (and changes its digest). */
const acceptManifests = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface ManifestResolverOptions {
  /** Per request. @default 10000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Asks a registry which digest a tag points at now: `HEAD /v2/<repo>/manifests/<tag>` and its
 * `Docker-Content-Digest` (a GET and a hash of the body when a registry leaves that header
 * out). Anonymous bearer tokens (Docker Hub, Quay, Harbor public projects) are fetched when the
 * registry asks for one.
 */
export class ManifestResolver {
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ManifestResolverOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async resolve(image: ImageName & { tag: string }, options: { insecure: boolean }): Promise<string> {
    const name = tagReference(image, image.tag);
    const host = image.registry === dockerHubRegistry ? "registry-1.docker.io" : image.registry;
    const url = `${options.insecure ? "http" : "https"}://${host}/v2/${image.repository}/manifests/${encodeURIComponent(image.tag)}`;
    try {
      let res = await this.request("HEAD", url);
      if (res.status === 401) {
        const token = await this.anonymousToken(res.headers.get("www-authenticate"));
        if (token) res = await this.request("HEAD", url, token);
        if (res.status === 401) throw new ManifestUnavailableError(name, `${name}: the registry refused anonymous access (401)`);
      }
      if (res.status === 404) throw new ManifestNotFoundError(name);
      if (!res.ok) throw new ManifestUnavailableError(name, `${name}: the registry answered ${res.status}`);
      const digest = res.headers.get("docker-content-digest");
      if (digest && /^sha256:[0-9a-f]{64}$/.test(digest)) return digest;
      const body = await this.request("GET", url);
      if (!body.ok) throw new ManifestUnavailableError(name, `${name}: the registry answered ${body.status}`);
      return `sha256:${createHash("sha256").update(Buffer.from(await body.arrayBuffer())).digest("hex")}`;
    } catch (error) {
      if (error instanceof ManifestNotFoundError || error instanceof ManifestUnavailableError) throw error;
      throw new ManifestUnavailableError(name, `${name}: the registry could not be reached`, { cause: error });
    }
  }

  private request(method: "HEAD" | "GET", url: string, token?: string): Promise<Response> {
    return this.fetchImpl(url, {
      method,
      headers: { accept: acceptManifests, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: "follow",
    });
  }

  /** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → an anonymous token, or null. */
  private async anonymousToken(challenge: string | null): Promise<string | null> {
    if (!challenge || !/^bearer\s/i.test(challenge)) return null;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!params.realm) return null;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    if (params.scope) url.searchParams.set("scope", params.scope);
    const res = await this.fetchImpl(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) return null;
    const body = (await res.json()) as { token?: string; access_token?: string };
    return body.token ?? body.access_token ?? null;
  }
}
