/** The part of a docker config JSON (`~/.docker/config.json`, a dockerconfigjson Secret) Kiln reads. */
export type DockerConfig = {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
};

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
