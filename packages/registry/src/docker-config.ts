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
 * for `registry` added, unless it already names that registry (bare or as an http(s) URL, as
 * `basicCredentialsFor` reads it): the credentials someone chose for a registry are kept, these
 * only fill the gap. Every other entry is kept as it was.
 */
export function withBasicCredentials(
  config: string | undefined,
  registry: string,
  credentials: BasicCredentials,
): string {
  const parsed = config === undefined ? {} : (JSON.parse(config) as DockerConfig);
  if (config !== undefined && basicCredentialsFor(parsed, registry) !== undefined) return config;
  const auths = { ...parsed.auths, [registry]: { auth: basicAuthOf(credentials) } };
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
