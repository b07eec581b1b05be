import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** A process as /proc shows it to root. */
export interface HostProcess {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, names the process even once the pid is reused. */
  startTime: string;
  /** The command line, arguments joined by spaces. */
  args: string;
  /** /proc's state letter: R, S, D, … and Z for one that has exited and awaits its parent. */
  state: string;
  cwd: string;
}

/** Every process of this machine now (as root, the build user's too). */
function hostProcesses(): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // a kernel thread, or gone
      }
      found.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        startTime: fields[19] ?? "",
        state: fields[0] ?? "",
        args: readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim(),
        cwd,
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * The processes of one build: those whose command line names `marker` (the RUN step's shell)
 * or a path below one of `dirs` (buildah's own, with the build's work dir in its arguments),
 * or whose working directory is below one of them; everything below those (buildah's helpers,
 * the OCI runtime, the step's container); and the slirp4netns that gives one of them its
 * network (started by the OCI hook, it is nobody's child once the hook exits).
 */
export function buildProcesses(marker: string, dirs: readonly string[]): HostProcess[] {
  const all = hostProcesses().filter((p) => p.state !== "Z");
  const byParent = new Map<number, HostProcess[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const found = new Map<number, HostProcess>();
  const add = (p: HostProcess) => {
    if (found.has(p.pid)) return;
    found.set(p.pid, p);
    for (const child of byParent.get(p.pid) ?? []) add(child);
  };
  for (const p of all)
    if (
      p.args.includes(marker) ||
      dirs.some((dir) => p.args.includes(dir) || p.cwd === dir || p.cwd.startsWith(`${dir}/`))
    )
      add(p);
  for (const p of all)
    if (
      /(^|\/)slirp4netns /.test(p.args) &&
      p.args.split(" ").some((arg) => found.has(Number(arg)))
    )
      add(p);
  return [...found.values()];
}

/**
 * Those of `processes` still running: the same pid and start time, and not a zombie (one that
 * has exited and waits for its parent, init once its own is gone, to reap it).
 */
export function stillRunning(processes: readonly HostProcess[]): HostProcess[] {
  const now = new Map(
    hostProcesses()
      .filter((p) => p.state !== "Z")
      .map((p) => [p.pid, p.startTime]),
  );
  return processes.filter((p) => now.get(p.pid) === p.startTime);
}

/** Every process below `pid` now (its children, theirs, …). */
export function descendantsOf(pid: number): HostProcess[] {
  const all = hostProcesses();
  const found: HostProcess[] = [];
  const walk = (parent: number) => {
    for (const p of all)
      if (p.ppid === parent) {
        found.push(p);
        walk(p.pid);
      }
  };
  walk(pid);
  return found;
}

/** Mount points below `dir` in any process's mount namespace (a build's layers, mounted by buildah). */
export async function mountsBelow(dir: string): Promise<string[]> {
  const found = new Set<string>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let info: string;
    try {
      info = await readFile(`/proc/${entry}/mountinfo`, "utf8");
    } catch {
      continue;
    }
    for (const line of info.split("\n")) {
      const mountPoint = line.split(" ")[4];
      if (mountPoint?.startsWith(`${dir}/`)) found.add(mountPoint);
    }
  }
  return [...found];
}

/** The runner instance whose claim (`kiln-runner-<id>.lock`) process `pid` holds open. */
export function runnerIdOf(pid: number): string | null {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const id = /kiln-runner-([0-9a-f]+)\.lock$/.exec(readlinkSync(join(`/proc/${pid}/fd`, fd)));
      if (id) return id[1] ?? null;
    } catch {
      // closed meanwhile
    }
  }
  return null;
}
