import { buildBusyboxImage, type BuiltImage } from "@kiln/infra";

/** Applets an S2I builder made from busybox needs besides the base ones (`chown` is s2i's rule). */
export const s2iBuilderApplets = [
  "id",
  "chown",
  "tar",
  "rm",
  "head",
  "dd",
  "date",
  "test",
  "[",
  "wc",
  "du",
  "ls",
  "grep",
] as const;

export type BuildS2IBuilderImageOptions = {
  storageDir: string;
  /** Full reference to push, e.g. `127.0.0.1:15000/s2i/builder:latest`. */
  ref: string;
  /** The registry's credentials (`--authfile`); none: an anonymous push. */
  authFile?: string;
  /** Script name → content, installed in `/usr/libexec/s2i` (scriptsDir); none: no scripts at all. */
  scripts?: Readonly<Record<string, string>>;
  /** @default "/usr/libexec/s2i" */
  scriptsDir?: string;
  /** @default { "io.openshift.s2i.scripts-url": "image://<scriptsDir>" } when there are scripts */
  labels?: Readonly<Record<string, string>>;
  /** @default "1001" */
  user?: string;
  /** More files (path → content), e.g. a fake toolchain. */
  files?: Readonly<Record<string, string>>;
};

/**
 * An S2I builder (or runtime) image made from Debian's busybox-static, as an image author
 * would: scripts in `/usr/libexec/s2i`, the `io.openshift.s2i.scripts-url` label, a non-root
 * USER, and writable `/tmp` and `/opt/app-root`. Pushed to the registry in `ref`.
 */
export function buildS2IBuilderImage(options: BuildS2IBuilderImageOptions): Promise<BuiltImage> {
  const scriptsDir = options.scriptsDir ?? "/usr/libexec/s2i";
  const scripts = options.scripts ?? {};
  const files: Record<string, string> = { ...options.files };
  for (const [name, content] of Object.entries(scripts)) files[`${scriptsDir}/${name}`] = content;
  const labels =
    options.labels ??
    (Object.keys(scripts).length > 0
      ? { "io.openshift.s2i.scripts-url": `image://${scriptsDir}` }
      : {});
  return buildBusyboxImage({
    storageDir: options.storageDir,
    ref: options.ref,
    ...(options.authFile ? { authFile: options.authFile } : {}),
    extraApplets: s2iBuilderApplets,
    files,
    labels,
    user: options.user ?? "1001",
    writableDirs: ["/tmp", "/opt/app-root"],
  });
}
