import { buildahReservedEnvName, type ImageConfig } from "@kiln/domain";
import { runCommand, type CommandResult, type RunCommandOptions } from "@kiln/runtime";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
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
  /**
   * The runner instance whose containers these are (`newRunnerId`): every container a `bud` or
   * a `from` makes carries it, so that a runner starting later can tell a crashed runner's
   * leftovers from a live runner's and from containers Kiln did not make.
   */
  owner?: string;
}

/**
 * The build arg that marks a `bud`'s containers (buildah records a bud's build args on each
 * stage's working container, the only mark it lets us put there): `<runner id>:<build id>`.
 */
const ownerArg = "KILN_BUILD_OWNER";
/** buildah's warning for build args no ARG took, which our mark always is. */
const unusedArgsWarning = /^\[Warning\] one or more build args were not consumed: \[(.*)\]$/;

/** A container of the store, with who made it when Kiln did. */
export interface StoreContainer {
  id: string;
  name: string;
  /** The runner instance that made it; null for a container Kiln did not mark. */
  runner: string | null;
  /** The build it was made for, when its mark says (a `bud`'s containers). */
  build: string | null;
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
   * Flags of a `buildah bud`, which runs the build's own code in RUN steps. `network` narrows the
   * host's choice (the start-up probe tries a step without one). Every isolated step gets the
   * step hook: it reaps the step if its buildah dies, and with egress plugs slirp4netns into the
   * step's own network namespace, so the step never shares this host's network.
   */
  runArgs(options: { network?: BuildNetwork } = {}): string[] {
    const { host } = this;
    if (host.isolation === BuildIsolation.ChrootUnsafe) return ["--isolation", "chroot"];
    const network = options.network ?? host.network;
    const egress = network === BuildNetwork.Egress ? host.stepHooks?.egress : null;
    const hooks = egress
      ? [
          "--hooks-dir",
          egress.hooksDir,
          "--volume",
          `${egress.resolvConf}:/etc/resolv.conf:ro`,
          "--volume",
          `${egress.hosts}:/etc/hosts:ro`,
        ]
      : host.stepHooks
        ? ["--hooks-dir", host.stepHooks.isolatedHooksDir]
        : [];
    return [...this.containerArgs(network), ...hooks];
  }

  /**
   * Flags of a `buildah run` (S2I save-artifacts): no network, and no hooks, which `buildah run`
   * has no flag for.
   */
  containerRunArgs(): string[] {
    if (this.host.isolation === BuildIsolation.ChrootUnsafe) return ["--isolation", "chroot"];
    return this.containerArgs(BuildNetwork.None);
  }

  private containerArgs(network: BuildNetwork): string[] {
    return [
      "--isolation",
      "oci",
      "--runtime",
      this.host.ociRuntime ?? "runc",
      "--network",
      network === BuildNetwork.Pod ? "host" : "none",
    ];
  }

  /**
   * Runs `buildah <global flags> <args>`: the one way Kiln starts buildah. An abort tells buildah
   * alone first and gives it time to remove its working containers before its tree is killed.
   */
  async run(
    args: readonly string[],
    options: Omit<RunCommandOptions, "command" | "args" | "env"> & {
      /** The build a `bud` runs for: its containers are marked with it too. */
      build?: string;
      /**
       * Values buildah reads from its environment (`--env NAME`, `--build-arg NAME` without
       * `=value`): a Secret's value, which on the command line every local user could read in
       * /proc/<pid>/cmdline. No name may be one buildah itself reads (`buildahReservedEnvName`).
       */
      secretEnv?: Readonly<Record<string, string>>;
    } = {},
  ): Promise<CommandResult> {
    const { build, secretEnv = {}, ...rest } = options;
    for (const name of Object.keys(secretEnv)) {
      const reserved = buildahReservedEnvName(name);
      if (reserved) throw new Error(`refusing to pass ${name} to buildah: ${reserved}`);
    }
    const command = {
      command: this.binary,
      args: [...this.globalArgs(), ...this.marked(args, build)],
      env: this.env(),
    };
    const wrapped = this.session ? await this.session.wrap(command.command, command.args) : command;
    const onLine = rest.onLine;
    return runCommand({
      killGraceMs: 5000,
      terminateLeaderFirst: true,
      // A runner that dies (kill -9, OOM) takes its buildah commands with it: each stops and
      // removes its containers itself rather than running on orphaned.
      parentDeathSignal: "SIGTERM",
      ...rest,
      ...(onLine ? { onLine: (line: string) => this.withoutOwnerArg(line, onLine) } : {}),
      ...wrapped,
      env: { ...wrapped.env, ...secretEnv },
    });
  }

  /** `args` with the owner's mark on what makes containers (`bud`, `from`). */
  private marked(args: readonly string[], build: string | undefined): readonly string[] {
    const { owner } = this.options;
    const [verb, ...rest] = args;
    if (!owner) return args;
    if (verb === "bud" || verb === "build")
      return [verb, "--build-arg", `${ownerArg}=${owner}:${build ?? ""}`, ...rest];
    if (verb === "from" && !rest.includes("--name"))
      return [verb, "--name", `kiln-${owner}-${randomBytes(4).toString("hex")}`, ...rest];
    return args;
  }

  /** buildah's unused-build-args warning without our mark, which the build's author never set. */
  private withoutOwnerArg(line: string, onLine: (line: string) => void): void {
    const unused = unusedArgsWarning.exec(line);
    if (!unused) return onLine(line);
    const theirs = (unused[1] ?? "").split(" ").filter((arg) => arg && arg !== ownerArg);
    if (theirs.length > 0)
      onLine(`[Warning] one or more build args were not consumed: [${theirs.join(" ")}]`);
  }

  /**
   * Every container of the store, with the runner and build its mark names. A `bud`'s mark is
   * read from buildah's own record of the container (`buildah.json`, whose build args no
   * command shows); a `from`'s is its name.
   */
  async containers(): Promise<StoreContainer[]> {
    const listed = await this.run(["containers", "--all", "--json"], { stdout: "capture" });
    if (listed.exitCode !== 0)
      throw new Error(`buildah containers failed (exit ${listed.exitCode ?? listed.signal})`);
    const all = (JSON.parse(listed.stdout || "[]") ?? []) as {
      id: string;
      containername: string;
    }[];
    return Promise.all(
      all.map(async ({ id, containername: name }) => {
        const named = /^kiln-([0-9a-f]+)-[0-9a-f]+$/.exec(name);
        if (named) return { id, name, runner: named[1] ?? null, build: null };
        const mark = await this.budMark(id);
        return { id, name, runner: mark?.runner ?? null, build: mark?.build ?? null };
      }),
    );
  }

  private async budMark(id: string): Promise<{ runner: string; build: string | null } | null> {
    const file = join(
      this.storageRoot,
      `${this.host.storageDriver}-containers`,
      id,
      "userdata",
      "buildah.json",
    );
    try {
      const state = JSON.parse(await readFile(file, "utf8")) as { Args?: Record<string, string> };
      const mark = /^([0-9a-f]+):(.*)$/.exec(state.Args?.[ownerArg] ?? "");
      return mark ? { runner: mark[1] ?? "", build: mark[2] || null } : null;
    } catch {
      // Gone meanwhile, or not a buildah container: not ours to tell.
      return null;
    }
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
