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
