/** The part of a docker config JSON (`~/.docker/config.json`, a dockerconfigjson Secret) Kiln reads. */
export type DockerConfig = {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
};

/** A registry user and password (Kiln's own, for its registry). Never logged, never in a message. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** base64 `user:password`, as a docker config's `auth` and an `Authorization: Basic` header carry it. */
export function basicAuthOf(credentials: BasicCredentials): string {
  return Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
}

/** The docker config JSON that buildah, skopeo and podman read (`--authfile`, `REGISTRY_AUTH_FILE`) for one registry. */
export function dockerConfigFor(registry: string, credentials: BasicCredentials): string {
  return JSON.stringify({ auths: { [registry]: { auth: basicAuthOf(credentials) } } });
}

/**
 * `config` (a docker config JSON, e.g. a BuildConfig's Secret; none: empty) with `credentials`
 * for `registry` in place of whatever it held for that registry; every other registry's entry
 * is kept as it was. The scheme-prefixed keys docker also writes are dropped for that registry,
 * so no tool can pick an older entry over this one.
 */
export function withBasicCredentials(
  config: string | undefined,
  registry: string,
  credentials: BasicCredentials,
): string {
  const parsed = config === undefined ? {} : (JSON.parse(config) as Record<string, unknown>);
  const auths = { ...(parsed.auths as Record<string, unknown> | undefined) };
  for (const key of [`http://${registry}`, `https://${registry}`]) delete auths[key];
  auths[registry] = { auth: basicAuthOf(credentials) };
  return JSON.stringify({ ...parsed, auths });
}

/**
 * The basic credentials (base64 `user:password`) a docker config holds for a registry
 * (`host[:port]`), keyed as docker writes them: bare, or as an http(s) URL.
 */
export function basicCredentialsFor(config: DockerConfig, registry: string): string | undefined {
  const entry =
    config.auths?.[registry] ??
    config.auths?.[`https://${registry}`] ??
    config.auths?.[`http://${registry}`];
  if (!entry) return undefined;
  if (entry.auth) return entry.auth;
  return entry.username !== undefined
    ? Buffer.from(`${entry.username}:${entry.password ?? ""}`).toString("base64")
    : undefined;
}
