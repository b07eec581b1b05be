import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  copyFile,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { runChecked } from "@kiln/runtime";

/**
 * Global buildah flags for a private image store under `storageDir`. vfs is the only driver that
 * works without fuse-overlayfs and kernel overlay support on the build machines; per-command flags
 * such as `--isolation chroot` (for `run`/`build`) still have to be added by the caller.
 */
export function buildahArgs(storageDir: string): string[] {
  return [
    "--root",
    join(storageDir, "storage"),
    "--runroot",
    join(storageDir, "run"),
    "--storage-driver",
    "vfs",
  ];
}

/** Applets linked next to /bin/busybox in the base image. */
export const busyboxApplets = [
  "sh",
  "echo",
  "cat",
  "ls",
  "mkdir",
  "cp",
  "true",
  "false",
  "env",
  "sleep",
] as const;

export type BuildBusyboxImageOptions = {
  /** Store used with `buildahArgs`. */
  storageDir: string;
  /** Full reference to push, e.g. `127.0.0.1:15000/base/busybox:latest`. */
  ref: string;
  /** Docker config JSON with the registry's credentials (`--authfile`); none: an anonymous push. */
  authFile?: string;
  /** @default "/bin/busybox" (Debian's busybox-static) */
  busybox?: string;
  /** @default "buildah" */
  buildah?: string;
  /** Applets linked besides `busyboxApplets` (`id`, `tar`, `chown` …). */
  extraApplets?: readonly string[];
  /** Extra files, absolute path → content; content starting with `#!` is made executable (0755). */
  files?: Readonly<Record<string, string>>;
  /** Host files copied in, absolute path in the image → host path (a static test binary). */
  hostFiles?: Readonly<Record<string, string>>;
  /** Image labels. */
  labels?: Readonly<Record<string, string>>;
  /** The image's USER (`1001`, `0`); none by default. */
  user?: string;
  /** Directories made world-writable (mode 1777), like a distribution's `/tmp`. */
  writableDirs?: readonly string[];
};

export type BuiltImage = {
  ref: string;
  /** Manifest digest in the registry, `sha256:…`. */
  digest: string;
};

/**
 * Builds a tiny image from scratch holding a static busybox and pushes it over plain HTTP.
 * Takes about a second; no registry on the internet is involved.
 */
export async function buildBusyboxImage(options: BuildBusyboxImageOptions): Promise<BuiltImage> {
  const buildah = options.buildah ?? "buildah";
  const global = buildahArgs(options.storageDir);
  await mkdir(options.storageDir, { recursive: true });
  const work = await mkdtemp(join(options.storageDir, "busybox-"));
  try {
    const bin = join(work, "rootfs", "bin");
    await mkdir(bin, { recursive: true });
    await copyFile(options.busybox ?? "/bin/busybox", join(bin, "busybox"));
    for (const applet of new Set([...busyboxApplets, ...(options.extraApplets ?? [])]))
      await symlink("busybox", join(bin, applet));
    for (const [path, content] of Object.entries(options.files ?? {})) {
      const file = join(work, "rootfs", path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
      await chmod(file, content.startsWith("#!") ? 0o755 : 0o644);
    }
    for (const [path, from] of Object.entries(options.hostFiles ?? {})) {
      const file = join(work, "rootfs", path);
      await mkdir(dirname(file), { recursive: true });
      await copyFile(from, file);
      await chmod(file, 0o755);
    }
    for (const dir of options.writableDirs ?? []) {
      await mkdir(join(work, "rootfs", dir), { recursive: true });
      await chmod(join(work, "rootfs", dir), 0o1777);
    }

    const container = (await runChecked(buildah, [...global, "from", "scratch"])).stdout.trim();
    try {
      await runChecked(buildah, [...global, "copy", container, join(work, "rootfs"), "/"]);
      const config = [
        ...Object.entries(options.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        ...(options.user !== undefined ? ["--user", options.user] : []),
      ];
      await runChecked(buildah, [
        ...global,
        "config",
        "--cmd",
        "/bin/sh",
        "--env",
        "PATH=/bin",
        ...config,
        container,
      ]);
      await runChecked(buildah, [...global, "commit", "--quiet", container, options.ref]);
    } finally {
      await runChecked(buildah, [...global, "rm", container]).catch(() => undefined);
    }
    const digestFile = join(work, "digest");
    await runChecked(buildah, [
      ...global,
      "push",
      "--quiet",
      "--tls-verify=false",
      ...(options.authFile ? ["--authfile", options.authFile] : []),
      "--digestfile",
      digestFile,
      options.ref,
      `docker://${options.ref}`,
    ]);
    const digest = (await readFile(digestFile, "utf8")).trim();
    return { ref: options.ref, digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Removes a buildah store. As a non-root user, files written inside the user namespace belong to
 * sub-uids we cannot delete directly, so fall back to deleting from inside that namespace.
 */
export async function removeBuildahStore(storageDir: string, buildah = "buildah"): Promise<void> {
  try {
    await rm(storageDir, { recursive: true, force: true });
  } catch {
    await runChecked(buildah, ["unshare", "rm", "-rf", storageDir]).catch(() => undefined);
  }
}
