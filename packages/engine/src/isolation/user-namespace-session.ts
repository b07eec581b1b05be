import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { createInterface } from "node:readline";

/**
 * One rootless user and mount namespace for all of a runner's buildah commands, as podman's
 * pause process is for podman. Rootless buildah otherwise sets its namespace up anew on every
 * invocation (newuidmap, newgidmap, a re-exec): about 30 ms a command, and a `bud` pays more
 * (measured: 444 ms against 563 ms for a one-RUN build). The holder is `buildah unshare` around
 * a process that waits on its stdin, so it ends with the runner even if the runner is killed;
 * commands join it with `nsenter` and tell buildah its namespace is already set up.
 */
export class UserNamespaceSession {
  private holder: ChildProcess | null = null;
  private pid: Promise<number> | null = null;

  constructor(
    private readonly buildah: string,
    private readonly env: () => NodeJS.ProcessEnv,
  ) {}

  /** `command args` as a command run inside the session's namespaces, with the env buildah needs there. */
  async wrap(
    command: string,
    args: readonly string[],
  ): Promise<{ command: string; args: string[]; env: NodeJS.ProcessEnv }> {
    const pid = await this.holderPid();
    return {
      command: "nsenter",
      args: ["--target", String(pid), "--user", "--mount", "--", command, ...args],
      env: {
        ...this.env(),
        // What `buildah unshare` sets for the commands it runs: no re-exec, and the real ids.
        _CONTAINERS_USERNS_CONFIGURED: "1",
        _CONTAINERS_ROOTLESS_UID: String(process.getuid?.() ?? 0),
        _CONTAINERS_ROOTLESS_GID: String(process.getgid?.() ?? 0),
      },
    };
  }

  private holderPid(): Promise<number> {
    if (this.pid && this.holder && this.holder.exitCode === null && this.holder.signalCode === null)
      return this.pid;
    const holder = spawn(this.buildah, ["unshare", "sh", "-c", 'echo "$$"; exec cat >/dev/null'], {
      env: this.env(),
      stdio: ["pipe", "pipe", "ignore"],
    });
    this.holder = holder;
    // Never waited for, and never keeping this process alive: the holder lives as long as this
    // process holds its stdin open, and a one-shot process (a build pod's step) may just exit.
    holder.unref();
    (holder.stdin as Socket | null)?.unref();
    this.pid = new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: holder.stdout! });
      lines.once("line", (line) => {
        lines.close();
        holder.stdout?.destroy();
        const pid = Number(line.trim());
        if (Number.isInteger(pid) && pid > 0) resolve(pid);
        else reject(new Error(`buildah unshare printed ${JSON.stringify(line)}, not its pid`));
      });
      holder.once("exit", (code, signal) =>
        reject(
          new Error(`buildah unshare exited (${code ?? signal}) before its namespace was ready`),
        ),
      );
      holder.once("error", reject);
    });
    this.pid.catch(() => {
      this.pid = null;
    });
    return this.pid;
  }
}
