import type { ImageConfig } from "@kiln/domain";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface BuildahOptions {
  /** Holds buildah's image store (`storage/`, `run/`) and the registries.conf Kiln writes. */
  storageDir: string;
  /** Registries reached over plain HTTP (a loopback registry); everything else needs TLS. */
  insecureRegistries: readonly string[];
  binary?: string;
}

/**
 * How Kiln invokes buildah: rootless-friendly and daemonless, with the vfs storage driver
 * and chroot isolation, which need no privileged container and no overlay support.
 */
export class Buildah {
  readonly binary: string;
  /**
   * Image configs by image ID, as `buildah inspect` read them. An ID is the digest of the
   * config, so what it maps to never changes: a runner inspects each builder once.
   */
  readonly imageConfigs = new Map<string, ImageConfig>();
  constructor(private readonly options: BuildahOptions) {
    this.binary = options.binary ?? "buildah";
  }

  /** Writes registries.conf so insecure registries are per-registry, not a global `--tls-verify=false`. */
  async prepare(): Promise<void> {
    await mkdir(join(this.options.storageDir, "storage"), { recursive: true });
    await mkdir(join(this.options.storageDir, "run"), { recursive: true });
    const registries = this.options.insecureRegistries
      .map((location) => `[[registry]]\nlocation = ${JSON.stringify(location)}\ninsecure = true\n`)
      .join("\n");
    await writeFile(
      this.registriesConf,
      `unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n\n${registries}`,
    );
  }

  /** Whether a registry (`host[:port]`) is reached over plain HTTP (listed as insecure). */
  isInsecure(registry: string): boolean {
    return this.options.insecureRegistries.includes(registry);
  }

  get registriesConf(): string {
    return join(this.options.storageDir, "registries.conf");
  }

  /** Global flags that every buildah command gets. */
  globalArgs(): string[] {
    return [
      "--root",
      join(this.options.storageDir, "storage"),
      "--runroot",
      join(this.options.storageDir, "run"),
      "--storage-driver",
      "vfs",
      "--registries-conf",
      this.registriesConf,
    ];
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, BUILDAH_ISOLATION: "chroot", STORAGE_DRIVER: "vfs" };
  }
}
