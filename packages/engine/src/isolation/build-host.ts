import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { chmod, chown, lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { assertNever } from "@kiln/domain";
import { runCommand } from "@kiln/runtime";
import { BuildHostUnusableError } from "./errors.js";
import { writeStepHooks } from "./step-hook.js";
import {
  BuildIsolation,
  BuildNetwork,
  StorageDriverChoice,
  type BuildHost,
  type StorageDriver,
} from "./types.js";
import { Buildah } from "../buildah.js";
import {
  buildIdMapSize,
  freeSubordinateRange,
  maxIdMapSize,
  subordinateRangesOf,
} from "./subordinate-ids.js";

export interface BuildHostOptions {
  isolation: BuildIsolation;
  /** The unprivileged user builds run as when the runner starts as root. @default "kiln-build" */
  buildUser?: string;
  /** The OCI runtime, a name on PATH or a path. @default "runc" */
  ociRuntime?: string;
  network: BuildNetwork;
  storageDriver: StorageDriverChoice;
  /** Per-build work dirs go below it; made the build user's, mode 0700. */
  workDir: string;
  /** buildah's stores and Kiln's sandbox files; made the build user's, mode 0700. */
  storageDir: string;
  buildahBinary?: string;
}

/**
 * Sets this host up for builds and proves it can contain them, before the runner takes any
 * build: resolves the build user (and, running as root, becomes it: from here on the runner
 * process and everything it starts are unprivileged), checks its subordinate ids, user
 * namespaces, the OCI runtime and slirp4netns, picks the storage driver by mounting overlay for
 * real, and runs one container the way builds run. Any missing piece throws
 * `BuildHostUnusableError` naming it and the command that fixes it; nothing falls back to
 * chroot or to root.
 */
export async function prepareBuildHost(options: BuildHostOptions): Promise<BuildHost> {
  const buildah = options.buildahBinary ?? "buildah";
  const dirs = privateDirs(options.storageDir);
  // Every build command runs under setpriv --pdeathsig, so that none outlives the runner.
  findProgram("setpriv", "sudo apt-get install util-linux");
  switch (options.isolation) {
    case BuildIsolation.ChrootUnsafe: {
      const me = userInfo();
      await makePrivateDirs([options.workDir, options.storageDir, ...Object.values(dirs)], null);
      return {
        isolation: options.isolation,
        user: { name: me.username, uid: me.uid, gid: me.gid },
        storageDriver: options.storageDriver === StorageDriverChoice.Overlay ? "overlay" : "vfs",
        storageFallback: null,
        ociRuntime: null,
        network: options.network,
        subordinateIds: 0,
        stepHooks: null,
        ...dirs,
      };
    }
    case BuildIsolation.Oci:
      break;
    default:
      assertNever(options.isolation, "isolation");
  }

  const user = await buildUser(options.buildUser ?? "kiln-build");
  // Root of a user namespace (a build pod with `hostUsers: false`) is already nobody on the
  // node: buildah runs there as root does, over the namespace's own ids, with no newuidmap.
  const rootOfUserNamespace = process.getuid?.() === 0 && !inInitialUserNamespace();
  const subordinateIds = rootOfUserNamespace ? 0 : checkSubordinateIds(user);
  if (!rootOfUserNamespace)
    for (const helper of ["newuidmap", "newgidmap"])
      findProgram(helper, "sudo apt-get install uidmap");
  checkUserNamespaceSysctls();
  const ociRuntime = findProgram(
    options.ociRuntime ?? "runc",
    "sudo apt-get install runc (or set BUILD_RUNNER_OCI_RUNTIME)",
  );
  const slirp4netns =
    options.network === BuildNetwork.Egress
      ? findProgram("slirp4netns", "sudo apt-get install slirp4netns, or BUILD_RUNNER_NETWORK=none")
      : null;
  if (slirp4netns) checkTunDevice();

  const dropRoot = process.getuid?.() === 0 && !rootOfUserNamespace;
  await makePrivateDirs(
    [options.workDir, options.storageDir, ...Object.values(dirs)],
    dropRoot ? user : null,
  );
  if (dropRoot) becomeUser(user, dirs.homeDir);
  for (const dir of [options.workDir, options.storageDir]) checkReachable(dir, user.name);

  const env = {
    ...process.env,
    HOME: dirs.homeDir,
    TMPDIR: dirs.tmpDir,
    XDG_RUNTIME_DIR: dirs.runtimeDir,
  };
  await trial(buildah, ["unshare", "true"], env, "user namespaces", userNamespaceFix(user.name));
  const storage = await chooseStorageDriver(
    options.storageDriver,
    buildah,
    options.storageDir,
    env,
  );
  const stepHooks = await writeStepHooks(join(options.storageDir, "sandbox"), slirp4netns);
  const host: BuildHost = {
    isolation: options.isolation,
    user,
    storageDriver: storage.driver,
    storageFallback: storage.fallback,
    ociRuntime,
    network: options.network,
    subordinateIds,
    stepHooks,
    ...dirs,
  };
  await trialContainer(host, buildah, options.storageDir, env);
  return host;
}

function privateDirs(storageDir: string) {
  return {
    homeDir: join(storageDir, "home"),
    tmpDir: join(storageDir, "tmp"),
    runtimeDir: join(storageDir, "run-user"),
  };
}

/** Whether this process sees every uid as itself: the host's own user namespace, where root is root. */
function inInitialUserNamespace(): boolean {
  const map = readOptional("/proc/self/uid_map").trim().split(/\s+/);
  return map.length === 3 && map[0] === "0" && map[1] === "0" && map[2] === "4294967295";
}

/**
 * The user builds run as: the build user when the runner is root of this host, else the
 * runner's own user (root of a user namespace included).
 */
async function buildUser(name: string): Promise<{ name: string; uid: number; gid: number }> {
  if (process.getuid?.() !== 0 || !inInitialUserNamespace()) {
    const me = userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid };
  }
  let entry = "";
  try {
    // getent exits 2 for an unknown user.
    const found = await runCommand({
      command: "getent",
      args: ["passwd", name],
      stdout: "capture",
    });
    if (found.exitCode === 0) entry = found.stdout.trim();
  } catch {
    // no getent: as for an unknown user
  }
  const [, , uid, gid] = entry.split(":");
  if (!entry || uid === undefined || gid === undefined) {
    throw new BuildHostUnusableError(
      "build user",
      `Kiln runs as root and builds never do, but the build user ${name} does not exist`,
      `run scripts/bootstrap, or sudo useradd --system --create-home --home-dir /var/lib/${name} --shell /usr/sbin/nologin ${name} (then give it subordinate ids), or set BUILD_RUNNER_BUILD_USER`,
    );
  }
  if (Number(uid) === 0)
    throw new BuildHostUnusableError(
      "build user",
      `${name} is root`,
      "set BUILD_RUNNER_BUILD_USER to an unprivileged user",
    );
  return { name, uid: Number(uid), gid: Number(gid) };
}

function checkSubordinateIds(user: { name: string; uid: number }): number {
  const subuid = readOptional("/etc/subuid");
  const subgid = readOptional("/etc/subgid");
  const uids = subordinateRangesOf(subuid, user);
  const gids = subordinateRangesOf(subgid, user);
  const size = buildIdMapSize(uids, gids);
  if (size < maxIdMapSize) {
    const free = freeSubordinateRange(subuid, subgid);
    const range = `${free.first}-${free.first + free.count - 1}`;
    const has =
      uids.length === 0 || gids.length === 0
        ? "has no subordinate uid and gid range"
        : `has only ${size} subordinate ids in its first range`;
    throw new BuildHostUnusableError(
      "subordinate ids",
      `${user.name} ${has} in /etc/subuid and /etc/subgid (a build's uids 1-65536 map onto one)`,
      `sudo usermod --add-subuids ${range} --add-subgids ${range} ${user.name}`,
    );
  }
  return size;
}

/** The sysctls distributions use to turn unprivileged user namespaces off, with the line that turns them on. */
function checkUserNamespaceSysctls(): void {
  const read = (path: string) => readOptional(path).trim();
  if (read("/proc/sys/user/max_user_namespaces") === "0") {
    throw new BuildHostUnusableError(
      "user namespaces",
      "user.max_user_namespaces is 0",
      "sudo sysctl -w user.max_user_namespaces=28633",
    );
  }
  if (read("/proc/sys/kernel/unprivileged_userns_clone") === "0") {
    throw new BuildHostUnusableError(
      "user namespaces",
      "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)",
      "sudo sysctl -w kernel.unprivileged_userns_clone=1",
    );
  }
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1") {
    throw new BuildHostUnusableError(
      "user namespaces",
      "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)",
      "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns for buildah",
    );
  }
}

function checkTunDevice(): void {
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
  } catch {
    throw new BuildHostUnusableError(
      "network",
      "slirp4netns needs /dev/net/tun, which this user cannot open",
      "sudo chmod 0666 /dev/net/tun (Debian's udev default; scripts/bootstrap does it), or BUILD_RUNNER_NETWORK=none",
    );
  }
}

// Debian keeps runc and newuidmap-style helpers in sbin, which an ordinary user's PATH may lack.
const sbinDirs = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

function findProgram(nameOrPath: string, fix: string): string {
  const candidates = nameOrPath.includes("/")
    ? [nameOrPath]
    : [...(process.env.PATH ?? "").split(delimiter), ...sbinDirs]
        .filter(Boolean)
        .map((d) => join(d, nameOrPath));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new BuildHostUnusableError(
    nameOrPath.split("/").pop() ?? nameOrPath,
    `${nameOrPath} is not installed`,
    fix,
  );
}

/**
 * Creates each directory and makes it private to `owner` (the build user, when the runner is
 * root and about to become it; null: the runner's own user). Only the directory itself changes
 * hands: what is inside was written by the build user already, or is refused by buildah.
 */
async function makePrivateDirs(
  dirs: readonly string[],
  owner: { uid: number; gid: number } | null,
): Promise<void> {
  for (const dir of dirs) {
    await mkdir(dir, { recursive: true });
    if (owner) {
      const st = await lstat(dir);
      if (st.uid !== owner.uid || st.gid !== owner.gid) await chown(dir, owner.uid, owner.gid);
    }
    await chmod(dir, 0o700);
  }
}

/**
 * Root no more: the runner drops to the build user for good (groups, then gid, then uid, so
 * none can be taken back), and the environment it hands to git and buildah follows.
 */
function becomeUser(user: { name: string; uid: number; gid: number }, home: string): void {
  process.setgroups?.([user.gid]);
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
  process.env.HOME = home;
  process.env.USER = user.name;
  process.env.LOGNAME = user.name;
}

/** The build user must reach its directories; name the parent that stops it. */
function checkReachable(dir: string, userName: string): void {
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return;
  } catch {
    let blocking = dir;
    for (
      let parent = dirname(dir);
      parent !== blocking;
      blocking = parent, parent = dirname(parent)
    ) {
      try {
        accessSync(parent, constants.X_OK);
        break;
      } catch {
        // keep climbing to the outermost one that blocks
      }
    }
    const parent = dirname(blocking);
    throw new BuildHostUnusableError(
      "directory",
      `${userName} cannot reach ${dir}`,
      `chmod o+x ${parent} (or put BUILD_RUNNER_WORK_DIR and BUILD_RUNNER_STORAGE_DIR where ${userName} can reach them)`,
    );
  }
}

function userNamespaceFix(userName: string): string {
  return `check that newuidmap and newgidmap are setuid root (sudo apt-get install --reinstall uidmap) and that ${userName}'s ranges in /etc/subuid and /etc/subgid are its own`;
}

/** Runs a probe command; a failure is the named piece's, with the command's last line as the problem. */
async function trial(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  piece: string,
  fix: string,
): Promise<void> {
  const lines: string[] = [];
  const result = await runCommand({
    command,
    args,
    env,
    onLine: (l) => lines.push(l),
    stdout: "capture",
  }).catch((error: Error) => ({ exitCode: null, signal: null, error }));
  if (result.exitCode === 0) return;
  const last =
    lines.filter((l) => l.trim() !== "").pop() ??
    ("error" in result ? result.error.message : `exit ${result.exitCode ?? result.signal}`);
  throw new BuildHostUnusableError(
    piece,
    last.replace(/^(time="[^"]*" )?(level=\w+ )?(msg=)?/, ""),
    fix,
  );
}

/**
 * Overlay is tried by mounting it for real, in the user namespace builds use, on the storage
 * dir's own file system: native overlay in user namespaces needs Linux 5.11+, and some file
 * systems (overlay itself on older kernels, some network file systems) refuse to be its upper dir.
 */
async function chooseStorageDriver(
  choice: StorageDriverChoice,
  buildah: string,
  storageDir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ driver: StorageDriver; fallback: string | null }> {
  if (choice === StorageDriverChoice.Vfs) return { driver: "vfs", fallback: null };
  const probeDir = await mkdtemp(join(storageDir, "overlay-probe-"));
  const script =
    'cd "$1" && mkdir lower upper work merged && mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged && umount merged';
  try {
    await trial(
      buildah,
      ["unshare", "sh", "-c", script, "sh", probeDir],
      env,
      "overlay storage",
      "use a kernel of 5.11 or later with overlay, or BUILD_RUNNER_STORAGE_DRIVER=vfs",
    );
    return { driver: "overlay", fallback: null };
  } catch (error) {
    if (!(error instanceof BuildHostUnusableError) || choice === StorageDriverChoice.Overlay)
      throw error;
    return { driver: "vfs", fallback: error.problem };
  } finally {
    await runCommand({ command: buildah, args: ["unshare", "rm", "-rf", probeDir], env }).catch(
      () => undefined,
    );
    await rm(probeDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * One container, run the way build steps run (same store flags, runtime, id map and network),
 * executing this host's `/usr/bin/true` bind-mounted read-only: proof that the OCI runtime works
 * here (crun, for one, refuses cgroup v1 hosts) and, with egress, that slirp4netns attaches.
 */
async function trialContainer(
  host: BuildHost,
  buildah: string,
  storageDir: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const probe = new Buildah({ storageDir, insecureRegistries: [], binary: buildah, host });
  await probe.prepare();
  const global = probe.globalArgs();
  const probeEnv = probe.env();
  const hostLibs = ["/usr", "/lib", "/lib64", "/bin"]
    .filter((d) => existsSync(d))
    .flatMap((d) => ["--volume", `${d}:${d}:ro`]);
  const name = `kiln-probe-${process.pid}`;
  const context = await mkdtemp(join(host.tmpDir, "probe-"));
  try {
    await trial(
      buildah,
      [...global, "from", "--name", name, "scratch"],
      probeEnv,
      "buildah",
      "sudo apt-get install buildah",
    );
    await trial(
      buildah,
      [...global, "commit", "--quiet", name, `localhost/${name}`],
      probeEnv,
      "buildah",
      "sudo apt-get install buildah",
    );
    await writeFile(join(context, "Dockerfile"), `FROM localhost/${name}\nRUN ["/usr/bin/true"]\n`);
    const withoutNetwork = probe.runArgs({ network: BuildNetwork.None });
    await trial(
      buildah,
      [
        ...global,
        "bud",
        "--quiet",
        ...withoutNetwork,
        ...hostLibs,
        "--layers=false",
        "--tag",
        `localhost/${name}-out`,
        context,
      ],
      probeEnv,
      "OCI runtime",
      `${host.ociRuntime} cannot run a container here: install runc (sudo apt-get install runc) or point BUILD_RUNNER_OCI_RUNTIME at one that works`,
    );
    if (host.network === BuildNetwork.Egress) {
      await trial(
        buildah,
        [
          ...global,
          "bud",
          "--quiet",
          ...probe.runArgs(),
          ...hostLibs,
          "--layers=false",
          "--tag",
          `localhost/${name}-out`,
          context,
        ],
        probeEnv,
        "network",
        "make /dev/net/tun usable (sudo chmod 0666 /dev/net/tun), or BUILD_RUNNER_NETWORK=none",
      );
    }
  } finally {
    for (const args of [
      ["rm", name],
      ["rmi", "--force", `localhost/${name}-out`, `localhost/${name}`],
    ]) {
      await runCommand({ command: buildah, args: [...global, ...args], env: probeEnv }).catch(
        () => undefined,
      );
    }
    await rm(context, { recursive: true, force: true });
  }
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
