/** A registry image name split into its parts, normalised the way docker and podman do. */
export interface ImageName {
  /** `host[:port]`; `docker.io` for Docker Hub. */
  registry: string;
  /** `library/nginx`, `default/hello` */
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

export const dockerHubRegistry = "docker.io";
const dockerHubAliases = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

const repositoryPattern =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/** Docker Hub's many host names are one registry. */
export function normaliseRegistry(host: string): string {
  const lower = host.toLowerCase();
  return dockerHubAliases.has(lower) ? dockerHubRegistry : lower;
}

/**
 * Parses `[registry/]repo[:tag][@digest]`. A first path component with a `.` or `:`, or
 * `localhost`, is a registry; otherwise the image is on Docker Hub (`nginx` →
 * `docker.io/library/nginx`). Returns null for anything that is not an image name.
 */
export function parseImageName(name: string): ImageName | null {
  if (name.length === 0 || name.length > 512 || /\s/.test(name)) return null;
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) return null;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) return null;
  }
  const slash = rest.indexOf("/");
  let registry = dockerHubRegistry;
  let repository = rest;
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = normaliseRegistry(first);
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === dockerHubRegistry && !repository.includes("/"))
    repository = `library/${repository}`;
  if (!repositoryPattern.test(repository)) return null;
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `registry/repository:tag` (tag `latest` when none is given and there is no digest). */
export function tagReference(
  image: Pick<ImageName, "registry" | "repository">,
  tag: string,
): string {
  return `${image.registry}/${image.repository}:${tag}`;
}

/** `registry/repository@sha256:…` */
export function digestReference(
  image: Pick<ImageName, "registry" | "repository">,
  digest: string,
): string {
  return `${image.registry}/${image.repository}@${digest}`;
}

/** Whether a string is a content digest (`sha256:…`), as Harbor puts in `tag` for an untagged artifact. */
export function isDigest(value: string): boolean {
  return digestPattern.test(value);
}
