/**
 * A value read from a Secret reaches buildah through buildah's own environment
 * (`--env NAME` / `--build-arg NAME` with no `=value`: buildah takes the value from its
 * environment), because a command line is readable by every local user in /proc/<pid>/cmdline
 * while the build runs, and an environment only by its owner. So such an entry's name becomes a
 * variable of buildah's process: a name that buildah, the containers libraries under it, Go's
 * runtime or the dynamic loader read would let a BuildConfig change how buildah itself runs
 * (its store, its registries and credentials, its temp dir, its proxy). Those names are refused.
 */

/** Read exactly by name. */
const reservedNames: ReadonlySet<string> = new Set([
  // The process and its user: where buildah finds its binaries, config, temp and run dirs.
  "PATH",
  "HOME",
  "TMPDIR",
  "USER",
  "LOGNAME",
  "SHELL",
  "PWD",
  "TZ",
  // The containers libraries' credentials and TLS roots.
  "REGISTRY_AUTH_FILE",
  "DOCKER_CONFIG",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  // Go's runtime.
  "GODEBUG",
  "GOGC",
  "GOMAXPROCS",
  "GOMEMLIMIT",
  "GOTRACEBACK",
  // systemd and D-Bus, which rootless buildah talks to for cgroups.
  "NOTIFY_SOCKET",
  "DBUS_SESSION_BUS_ADDRESS",
  // Proxies: buildah pulls through them and hands them to RUN steps (--http-proxy).
  ...["http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"].flatMap((name) => [
    name,
    name.toUpperCase(),
  ]),
]);

/** Read by prefix: buildah's, the containers libraries' (also the re-exec's own `_CONTAINERS_*`), storage, XDG dirs, the loader. */
const reservedPrefixes = [
  "BUILDAH_",
  "_BUILDAH_",
  "CONTAINERS_",
  "_CONTAINERS_",
  "STORAGE_",
  "XDG_",
  "LD_",
] as const;

/**
 * Why `name` may not take a value from a Secret (buildah reads it from its environment), or
 * null when it may.
 */
export function buildahReservedEnvName(name: string): string | null {
  if (reservedNames.has(name))
    return `${name} is read by buildah from its own environment, where Kiln passes a Secret's value: give the variable another name`;
  const prefix = reservedPrefixes.find((p) => name.startsWith(p));
  return prefix
    ? `names starting ${prefix} are read by buildah from its own environment, where Kiln passes a Secret's value: give the variable another name`
    : null;
}
