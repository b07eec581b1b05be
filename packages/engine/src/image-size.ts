import { readFile } from "node:fs/promises";
import { runCommand } from "./run-command.js";
import type { BuildContext } from "./build-context.js";

/**
 * The pushed image's size in the registry (config + compressed layers, as `docker manifest
 * inspect` would sum them). Read with one HTTP request from here when the registry answers
 * one (plain or basic auth, or a bearer token for those credentials), else with skopeo, which
 * knows every auth scheme but costs a process. Informative only: when it cannot be read, the
 * build still completes and the log says why.
 */
export async function pushedImageSize(ctx: BuildContext, imageReference: string, authFile: string | null): Promise<number | undefined> {
  const direct = await manifestSizeOverHttp(ctx, imageReference, authFile).catch(() => undefined);
  if (direct !== undefined) return direct;
  return manifestSizeWithSkopeo(ctx, imageReference, authFile);
}

const acceptManifests = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"].join(", ");

async function manifestSizeOverHttp(ctx: BuildContext, imageReference: string, authFile: string | null): Promise<number | undefined> {
  const match = /^([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(imageReference);
  if (!match) return undefined;
  const [, registry, repository, digest] = match as unknown as [string, string, string, string];
  const url = `${ctx.buildah.isInsecure(registry) ? "http" : "https"}://${registry}/v2/${repository}/manifests/${digest}`;
  const basic = authFile ? basicCredentials(JSON.parse(await readFile(authFile, "utf8")) as DockerConfig, registry) : undefined;
  const get = (authorization?: string) =>
    fetch(url, { headers: { accept: acceptManifests, ...(authorization ? { authorization } : {}) }, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(5000)]) });
  let res = await get(basic ? `Basic ${basic}` : undefined);
  if (res.status === 401) {
    await res.body?.cancel();
    const token = await bearerToken(res.headers.get("www-authenticate"), basic, ctx.signal);
    if (!token) return undefined;
    res = await get(`Bearer ${token}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  return sumSizes(await res.text());
}

type DockerConfig = { auths?: Record<string, { auth?: string; username?: string; password?: string }> };

function basicCredentials(config: DockerConfig, registry: string): string | undefined {
  const entry = config.auths?.[registry] ?? config.auths?.[`https://${registry}`] ?? config.auths?.[`http://${registry}`];
  if (!entry) return undefined;
  if (entry.auth) return entry.auth;
  return entry.username !== undefined ? Buffer.from(`${entry.username}:${entry.password ?? ""}`).toString("base64") : undefined;
}

/** `WWW-Authenticate: Bearer realm=…,service=…,scope=…` → a token for these credentials, or null. */
async function bearerToken(challenge: string | null, basic: string | undefined, signal: AbortSignal): Promise<string | null> {
  if (!challenge || !/^bearer\s/i.test(challenge)) return null;
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
  if (!params.realm) return null;
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set("service", params.service);
  if (params.scope) url.searchParams.set("scope", params.scope);
  const res = await fetch(url, { headers: basic ? { authorization: `Basic ${basic}` } : {}, signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
  if (!res.ok) return null;
  const body = (await res.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token ?? null;
}

function sumSizes(raw: string): number | undefined {
  try {
    const manifest = JSON.parse(raw) as { config?: { size?: number }; layers?: { size?: number }[] };
    if (!manifest.config) return undefined;
    return (manifest.config.size ?? 0) + (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0);
  } catch {
    return undefined;
  }
}

async function manifestSizeWithSkopeo(ctx: BuildContext, imageReference: string, authFile: string | null): Promise<number | undefined> {
  let raw = "";
  const result = await runCommand({
    command: "skopeo",
    // The same registries.conf as buildah, so insecure registries stay per-registry (skopeo 1.9
    // ignores CONTAINERS_REGISTRIES_CONF; its hidden --registries-conf flag works).
    args: ["--registries-conf", ctx.buildah.registriesConf, "inspect", "--raw", ...(authFile ? ["--authfile", authFile] : []), `docker://${imageReference}`],
    env: ctx.buildah.env(),
    onLine: (l) => (raw += `${l}\n`),
    signal: ctx.signal,
  }).catch(() => null);
  if (!result || result.exitCode !== 0) {
    ctx.sink.line("warning: could not read the pushed manifest to record the image size");
    return undefined;
  }
  return sumSizes(raw);
}
