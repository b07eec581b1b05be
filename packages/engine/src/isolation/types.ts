import type { StepHooks } from "./step-hook.js";

/**
 * How build steps are contained. `oci`: rootless buildah with an OCI runtime, each RUN step in
 * its own user, mount, PID, IPC, UTS and network namespaces, its uid 0 a subordinate id of the
 * build user. `chroot-unsafe`: buildah's chroot isolation as whatever user the runner is, which
 * buildah documents as no security boundary; only for an operator who says so by name.
 */
export const BuildIsolation = { Oci: "oci", ChrootUnsafe: "chroot-unsafe" } as const;
export type BuildIsolation = (typeof BuildIsolation)[keyof typeof BuildIsolation];

/**
 * What a RUN step's network namespace reaches. `egress`: out through slirp4netns (user-mode NAT),
 * what a package install needs, never this host's loopback. `none`: only its own loopback.
 * `pod`: the network namespace buildah itself runs in, only for a build pod, whose namespace
 * Kiln's NetworkPolicies fence (never on a shared host: there it is the host's network).
 */
export const BuildNetwork = { Egress: "egress", None: "none", Pod: "pod" } as const;
export type BuildNetwork = (typeof BuildNetwork)[keyof typeof BuildNetwork];

/** `auto`: overlay where it mounts, else vfs (said once in the log). */
export const StorageDriverChoice = { Auto: "auto", Overlay: "overlay", Vfs: "vfs" } as const;
export type StorageDriverChoice = (typeof StorageDriverChoice)[keyof typeof StorageDriverChoice];
export type StorageDriver = "overlay" | "vfs";

/** The host as the runner found and set it up: everything `Buildah` needs to contain a build. */
export interface BuildHost {
  isolation: BuildIsolation;
  /** Who builds run as (the runner's own user, after it dropped root). */
  user: { name: string; uid: number; gid: number };
  storageDriver: StorageDriver;
  /** Why overlay was not used when `auto` chose vfs. */
  storageFallback: string | null;
  /** Absolute path of the OCI runtime; null with chroot isolation. */
  ociRuntime: string | null;
  network: BuildNetwork;
  /**
   * Subordinate ids of the build user that a step's uids 1… map onto (its uid 0 is the build
   * user itself); 0 with chroot.
   */
  subordinateIds: number;
  /** The OCI hooks of RUN steps (the reaper; slirp4netns with egress); null with chroot. */
  stepHooks: StepHooks | null;
  /** Private HOME, TMPDIR and XDG_RUNTIME_DIR for buildah, under the storage dir. */
  homeDir: string;
  tmpDir: string;
  runtimeDir: string;
}
