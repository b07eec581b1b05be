import type { ImageConfig } from "@kiln/domain";
import { runCommand, type CommandResult, type RunCommandOptions } from "@kiln/runtime";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BuildIsolation, BuildNetwork, type BuildHost } from "./isolation/types.js";
import { UserNamespaceSession } from "./isolation/user-namespace-session.js";

export interface BuildahOptions {
  /** Holds buildah's image stores (one per driver), its run dirs and the registries.conf Kiln writes. */
  storageDir: string;
  /** Registries reached over plain HTTP (a loopback registry); everything else needs TLS. */
  insecureRegistries: readonly string[];
  binary?: string;
  /** How builds are contained here (`prepareBuildHost`). */
  host: BuildHost;
}

/**
 * How Kiln invokes buildah. Under `oci` isolation: rootless (the runner is unprivileged), every
 * RUN step in its own namespaces under the OCI runtime, its uid 0 the unprivileged build user
 * and every other uid one of that user's subordinate ids, and the network the host chose. Under
 * `chroot-unsafe`: the previous way, chroot isolation on vfs.
 */
export class Buildah {
  readonly binary: string;
  /**
   * Image configs by image ID, as `buildah inspect` read them. An ID is the digest of the
   * config, so what it maps to never changes: a runner inspects each builder once.
   */
  readonly imageConfigs = new Map<string, ImageConfig>();
  readonly host: BuildHost;
  /** Rootless: every command joins one user namespace instead of making its own. */
  private readonly session: UserNamespaceSession | null;
  constructor(private readonly options: BuildahOptions) {
    this.binary = options.binary ?? "buildah";
    this.host = options.host;
    const rootless = process.getuid?.() !== 0 && options.host.isolation === BuildIsolation.Oci;
    this.session = rootless ? new UserNamespaceSession(this.binary, () => this.env()) : null;
  }

  /** Writes registries.conf so insecure registries are per-registry, not a global `--tls-verify=false`. */
  async prepare(): Promise<void> {
    await mkdir(this.storageRoot, { recursive: true, mode: 0o700 });
    await mkdir(this.runRoot, { recursive: true, mode: 0o700 });
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

  /** One store per driver: a store written by one cannot be opened by the other. */
  get storageRoot(): string {
    return join(this.options.storageDir, this.host.storageDriver);
  }

  private get runRoot(): string {
    return join(this.options.storageDir, "run", this.host.storageDriver);
  }

  /** Global flags that every buildah command gets. */
  globalArgs(): string[] {
    return [
      "--root",
      this.storageRoot,
      "--runroot",
      this.runRoot,
      "--storage-driver",
      this.host.storageDriver,
      "--registries-conf",
      this.registriesConf,
    ];
  }

  /**
   * Flags of a command that runs the build's own code (`bud`, `run`). `network` narrows the
   * host's choice: `buildah run` (S2I save-artifacts) gets none, as it has no way to take the
   * egress hook and needs no network.
   */
  runArgs(options: { network?: BuildNetwork } = {}): string[] {
    const { host } = this;
    if (host.isolation === BuildIsolation.ChrootUnsafe) return ["--isolation", "chroot"];
    const network = options.network ?? host.network;
    // `--network none` gives the step a namespace of its own; with egress the hook then plugs
    // slirp4netns into it, so the step never shares this host's network.
    const egress =
      network === BuildNetwork.Egress && host.sandbox
        ? [
            "--hooks-dir",
            host.sandbox.hooksDir,
            "--volume",
            `${host.sandbox.resolvConf}:/etc/resolv.conf:ro`,
            "--volume",
            `${host.sandbox.hosts}:/etc/hosts:ro`,
          ]
        : [];
    return [
      "--isolation",
      "oci",
      "--runtime",
      host.ociRuntime ?? "runc",
      "--network",
      network === BuildNetwork.Pod ? "host" : "none",
      ...egress,
    ];
  }

  /**
   * Runs `buildah <global flags> <args>`: the one way Kiln starts buildah. An abort tells buildah
   * alone first and gives it time to remove its working containers before its tree is killed.
   */
  async run(
    args: readonly string[],
    options: Omit<RunCommandOptions, "command" | "args" | "env"> = {},
  ): Promise<CommandResult> {
    const command = {
      command: this.binary,
      args: [...this.globalArgs(), ...args],
      env: this.env(),
    };
    return runCommand({
      killGraceMs: 5000,
      terminateLeaderFirst: true,
      ...options,
      ...(this.session ? await this.session.wrap(command.command, command.args) : command),
    });
  }

  env(): NodeJS.ProcessEnv {
    const { host } = this;
    return {
      ...process.env,
      // Private to the build user, so neither the operator's containers.conf or storage.conf
      // nor another user's temp files take part in a build.
      HOME: host.homeDir,
      TMPDIR: host.tmpDir,
      XDG_RUNTIME_DIR: host.runtimeDir,
      BUILDAH_ISOLATION: host.isolation === BuildIsolation.ChrootUnsafe ? "chroot" : "oci",
      STORAGE_DRIVER: host.storageDriver,
    };
  }
}
