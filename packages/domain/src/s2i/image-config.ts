/**
 * The parts of an image's config the S2I planner reads, as `buildah inspect` (or a registry)
 * reports them. Passed in as data so the planner stays free of I/O.
 */
export interface ImageConfig {
  labels: Readonly<Record<string, string>>;
  /** `USER` of the image: `""` (root), `1001`, `1001:0`, `app`. */
  user: string;
  /** `KEY=VALUE` entries, as in the OCI config. */
  env: readonly string[];
  /** `WORKDIR` of the image; `""` when unset. */
  workingDir: string;
}

/** The value of `name` in an OCI `KEY=VALUE` list, or undefined. */
export function imageEnv(config: ImageConfig, name: string): string | undefined {
  for (const entry of config.env) {
    const eq = entry.indexOf("=");
    if (eq > 0 && entry.slice(0, eq) === name) return entry.slice(eq + 1);
  }
  return undefined;
}
