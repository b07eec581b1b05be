/**
 * A Job controller and kubelet for the stand-in API server that run a Job's pod as **local
 * processes** (tests only; see ./README.md). Nothing of a container runtime is emulated: no
 * image is pulled (the host is the image), no namespaces, no cgroups, no user switching
 * (`runAsUser` and `securityContext` are not applied). What it does, it does as the real ones
 * do, to the fields Kiln reads:
 *
 * - Job controller: on a new Job (not suspended) it sets `status.startTime`/`active` and creates
 *   the pod (`podFromJob`); when the pod ends, the Job's `Complete` or `Failed`
 *   (`BackoffLimitExceeded`) condition with `succeeded`/`failed` counts; past
 *   `activeDeadlineSeconds` it kills and deletes the pod and fails the Job with `DeadlineExceeded`.
 * - kubelet: waits for the pod's Secret volumes to exist (as a pod stays ContainerCreating), makes
 *   its `emptyDir` and `secret` volumes as host directories, runs the init containers one after
 *   the other and then the containers (`command` + `args`, the container's `env`), writes their
 *   statuses (`waiting` PodInitializing → `running` → `terminated` with exit code, reason and
 *   the termination message), the pod's phase, and their stdout/stderr lines as pod logs. A
 *   deleted pod's processes get SIGTERM, then SIGKILL after its grace period, as a whole tree.
 *
 * Paths: a container sees its volumes at their mountPaths; here they are host directories, so a
 * path in an env value or `workingDir` under a mountPath is rewritten to the host directory, and
 * the termination message file (`terminationMessagePath`) is a host file whose path the process
 * gets in the env variable `terminationMessageEnv`. That is the one thing a program must do
 * differently under this kubelet, and it is why the option exists.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, chown, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { descendantPids } from "@kiln/engine";
import { podFromJob } from "./controllers.js";
import type { KubeObject } from "./resources.js";
import type { StandInApiServer } from "./stand-in-api-server.js";

export type LocalKubeletOptions = {
  kube: StandInApiServer;
  /** Host directory for the pods' volumes and termination messages. */
  rootDir: string;
  /** The env variable that tells a process the host path of its termination message file. */
  terminationMessageEnv?: string;
  /** Extra environment of every container (on top of the host's PATH and the container's env). */
  env?: Record<string, string>;
  /** Only Jobs of this namespace. @default every namespace */
  namespace?: string;
  /** How long to wait for a pod's Secret volumes before giving up on the pod. @default 30000 */
  volumeTimeoutMs?: number;
  /**
   * The user every container runs as and its volumes belong to, as a pod's `runAsUser` makes
   * them (Kiln's build pods run as an unprivileged user with subordinate ids). @default this process's
   */
  runAs?: { uid: number; gid: number };
};

type Container = {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  workingDir?: string;
  terminationMessagePath?: string;
  volumeMounts?: { name: string; mountPath: string }[];
};
type Volume = {
  name: string;
  emptyDir?: unknown;
  secret?: { secretName: string; defaultMode?: number; optional?: boolean };
};
type PodSpec = {
  initContainers?: Container[];
  containers?: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
};
type ContainerStatus = {
  name: string;
  image: string;
  imageID: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  state: Record<string, unknown>;
};

type RunningPod = {
  namespace: string;
  name: string;
  job: string;
  deleted: boolean;
  processes: Set<ChildProcess>;
  /** Every process of the pod found when it was killed (containers start their own sessions). */
  killed: Set<number>;
  done: Promise<void>;
};

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

export class LocalKubelet {
  private readonly pods = new Map<string, RunningPod>();
  private readonly deadlines = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: (() => void)[] = [];
  /** Errors of the kubelet itself (not of the containers), for a test to assert empty. */
  readonly errors: unknown[] = [];

  constructor(private readonly options: LocalKubeletOptions) {}

  start(): this {
    const { kube } = this.options;
    this.unsubscribe.push(
      kube.onCreate("Job", (job) => {
        if (this.options.namespace && job.metadata.namespace !== this.options.namespace) return;
        if ((job.spec as { suspend?: boolean } | undefined)?.suspend) return;
        this.startJob(job);
      }),
      kube.onDelete("Pod", (pod) => {
        const running = this.pods.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
        if (running) this.kill(running, pod);
      }),
    );
    return this;
  }

  /** Pods this kubelet ran, by `namespace/name`. */
  podNames(): string[] {
    return [...this.pods.keys()];
  }

  /**
   * Waits until every pod started so far has finished: its containers exited, its statuses were
   * written, and every process of a killed pod is gone (a process killed in the middle of a
   * large write finishes that write first).
   */
  async idle(): Promise<void> {
    await Promise.all([...this.pods.values()].map((p) => p.done));
    const alive = (pid: number) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 30_000;
    for (const pod of this.pods.values()) {
      while ([...pod.killed].some(alive) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills whatever still runs and stops reacting to the API server. */
  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    for (const t of this.deadlines) clearTimeout(t);
    for (const pod of this.pods.values()) this.kill(pod, undefined, 0);
    await this.idle();
  }

  private startJob(job: KubeObject): void {
    const { kube } = this.options;
    const namespace = job.metadata.namespace ?? "default";
    const jobName = job.metadata.name ?? "";
    const suffix = [...randomBytes(5)].map((b) => "bcdfghjklmnpqrstvwxz2456789"[b % 27]).join("");
    const spec =
      ((job.spec ?? {}) as { template?: { spec?: PodSpec }; activeDeadlineSeconds?: number })
        .template?.spec ?? {};
    const waiting = (c: Container, reason: string): ContainerStatus => ({
      name: c.name,
      image: "",
      imageID: "",
      ready: false,
      restartCount: 0,
      started: false,
      state: { waiting: { reason } },
    });
    try {
      kube.update("Job", namespace, jobName, (j) => {
        j.status = { ...(j.status as object), startTime: now(), active: 1 };
      });
      const pod = kube.create(
        podFromJob(job, {
          suffix,
          status: {
            phase: "Pending",
            initContainerStatuses: (spec.initContainers ?? []).map((c) =>
              waiting(c, "PodInitializing"),
            ),
            containerStatuses: (spec.containers ?? []).map((c) => waiting(c, "PodInitializing")),
          },
        }),
      );
      const running: RunningPod = {
        namespace,
        name: pod.metadata.name ?? "",
        job: jobName,
        deleted: false,
        processes: new Set(),
        killed: new Set(),
        done: Promise.resolve(),
      };
      this.pods.set(`${namespace}/${running.name}`, running);
      running.done = this.runPod(running, spec).catch(
        (error: unknown) => void this.errors.push(error),
      );
      const deadline = (job.spec as { activeDeadlineSeconds?: number } | undefined)
        ?.activeDeadlineSeconds;
      if (deadline) {
        const timer = setTimeout(() => {
          this.deadlines.delete(timer);
          this.deadlineExceeded(running);
        }, deadline * 1000);
        this.deadlines.add(timer);
        void running.done.then(() => {
          clearTimeout(timer);
          this.deadlines.delete(timer);
        });
      }
    } catch (error) {
      this.errors.push(error);
    }
  }

  /** The Job controller past `activeDeadlineSeconds`: the pod is deleted (its processes killed), the Job Failed. */
  private deadlineExceeded(pod: RunningPod): void {
    const { kube } = this.options;
    const job = kube.get("Job", pod.namespace, pod.job);
    if (!job || this.finished(job)) return;
    kube.update("Job", pod.namespace, pod.job, (j) => {
      j.status = {
        ...(j.status as object),
        active: 0,
        failed: 1,
        conditions: [
          {
            type: "FailureTarget",
            status: "True",
            reason: "DeadlineExceeded",
            message: "Job was active longer than specified deadline",
            lastProbeTime: now(),
            lastTransitionTime: now(),
          },
          {
            type: "Failed",
            status: "True",
            reason: "DeadlineExceeded",
            message: "Job was active longer than specified deadline",
            lastProbeTime: now(),
            lastTransitionTime: now(),
          },
        ],
      };
    });
    if (kube.get("Pod", pod.namespace, pod.name))
      kube.delete("Pod", pod.namespace, pod.name, { propagationPolicy: "Background" });
  }

  private finished(job: KubeObject): boolean {
    const conditions =
      ((job.status ?? {}) as { conditions?: { type: string; status: string }[] }).conditions ?? [];
    return conditions.some(
      (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
    );
  }

  private async runPod(pod: RunningPod, spec: PodSpec): Promise<void> {
    const dir = join(this.options.rootDir, pod.namespace, pod.name);
    const mounts = await this.makeVolumes(pod, spec, dir);
    if (!mounts || pod.deleted) return;
    const runAs = this.options.runAs;
    if (runAs) {
      for (const path of [dir, join(dir, "volumes"), ...mounts.values()])
        await chown(path, runAs.uid, runAs.gid);
      await mkdir(join(dir, "termination"), { recursive: true });
      await chown(join(dir, "termination"), runAs.uid, runAs.gid);
    }
    for (const container of spec.initContainers ?? []) {
      const exitCode = await this.runContainer(pod, container, "init", mounts, dir);
      if (pod.deleted) return;
      if (exitCode !== 0) return this.podEnded(pod, false);
    }
    this.setPodPhase(pod, "Running");
    const exits = await Promise.all(
      (spec.containers ?? []).map((c) => this.runContainer(pod, c, "main", mounts, dir)),
    );
    if (pod.deleted) return;
    this.podEnded(
      pod,
      exits.every((code) => code === 0),
    );
  }

  /** emptyDir and secret volumes as host directories; null when a Secret never came. */
  private async makeVolumes(
    pod: RunningPod,
    spec: PodSpec,
    dir: string,
  ): Promise<Map<string, string> | null> {
    const { kube } = this.options;
    const hostDirs = new Map<string, string>();
    for (const volume of spec.volumes ?? []) {
      const host = join(dir, "volumes", volume.name);
      await mkdir(host, { recursive: true });
      if (volume.secret) {
        const deadline = Date.now() + (this.options.volumeTimeoutMs ?? 30_000);
        let secret = kube.get("Secret", pod.namespace, volume.secret.secretName);
        // As the real kubelet: the pod stays ContainerCreating until its Secret exists.
        while (!secret && !pod.deleted && Date.now() < deadline && !volume.secret.optional) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          secret = kube.get("Secret", pod.namespace, volume.secret.secretName);
        }
        if (pod.deleted) return null;
        if (!secret && !volume.secret.optional) {
          this.errors.push(
            new Error(`secret ${volume.secret.secretName} of pod ${pod.name} never appeared`),
          );
          return null;
        }
        const data = ((secret as { data?: Record<string, string> } | undefined)?.data ??
          {}) as Record<string, string>;
        for (const [key, value] of Object.entries(data)) {
          const file = join(host, key);
          await writeFile(file, Buffer.from(value, "base64"));
          await chmod(file, volume.secret.defaultMode ?? 0o644);
          // As fsGroup would: the pod's user reads its own Secret volumes.
          if (this.options.runAs) await chown(file, this.options.runAs.uid, this.options.runAs.gid);
        }
      }
      hostDirs.set(volume.name, host);
    }
    return hostDirs;
  }

  private async runContainer(
    pod: RunningPod,
    container: Container,
    kind: "init" | "main",
    volumes: Map<string, string>,
    dir: string,
  ): Promise<number> {
    const { kube } = this.options;
    const mounts = (container.volumeMounts ?? [])
      .map((m) => [m.mountPath.replace(/\/+$/, ""), volumes.get(m.name) ?? ""] as const)
      .sort((a, b) => b[0].length - a[0].length);
    const mapPath = (value: string) => {
      for (const [mountPath, host] of mounts) {
        if (value === mountPath || value.startsWith(`${mountPath}/`))
          return host + value.slice(mountPath.length);
      }
      return value;
    };
    const terminationFile = join(dir, "termination", container.name);
    await mkdir(dirname(terminationFile), { recursive: true });
    await rm(terminationFile, { force: true });
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
    for (const e of container.env ?? []) env[e.name] = mapPath(e.value ?? "");
    if (this.options.terminationMessageEnv)
      env[this.options.terminationMessageEnv] = terminationFile;
    Object.assign(env, this.options.env ?? {});
    const [command, ...args] = [...(container.command ?? []), ...(container.args ?? [])];
    const startedAt = now();
    this.setContainerState(pod, container.name, kind, { running: { startedAt } });
    if (!command)
      return this.terminated(pod, container.name, kind, 128, startedAt, "", "ContainerCannotRun");

    const child = spawn(command, args, {
      env,
      cwd: container.workingDir ? mapPath(container.workingDir) : dir,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...this.options.runAs,
    });
    pod.processes.add(child);
    const lines = (stream: NodeJS.ReadableStream) =>
      new Promise<void>((resolve) => {
        const rl = createInterface({ input: stream, crlfDelay: Infinity });
        rl.on("line", (line) => {
          if (!pod.deleted) kube.appendPodLog(pod.namespace, pod.name, container.name, line);
        });
        rl.on("close", resolve);
      });
    const output = Promise.all([lines(child.stdout!), lines(child.stderr!)]);
    const exit = await new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
      child.once("error", () => resolve({ code: 127, signal: null }));
      child.once("exit", (code, signal) =>
        resolve({
          code:
            code ??
            128 +
              (signal ? (({ SIGTERM: 15, SIGKILL: 9 } as Record<string, number>)[signal] ?? 1) : 1),
          signal,
        }),
      );
    });
    await output;
    pod.processes.delete(child);
    if (pod.deleted) return exit.code;
    kube.endPodLog(pod.namespace, pod.name, container.name);
    const message = (await readFile(terminationFile).catch(() => Buffer.alloc(0)))
      .subarray(0, 4096)
      .toString("utf8");
    return this.terminated(
      pod,
      container.name,
      kind,
      exit.code,
      startedAt,
      message,
      exit.code === 0 ? "Completed" : "Error",
    );
  }

  private terminated(
    pod: RunningPod,
    name: string,
    kind: "init" | "main",
    exitCode: number,
    startedAt: string,
    message: string,
    reason: string,
  ): number {
    this.setContainerState(pod, name, kind, {
      terminated: {
        exitCode,
        reason,
        startedAt,
        finishedAt: now(),
        ...(message ? { message } : {}),
      },
    });
    return exitCode;
  }

  private setContainerState(
    pod: RunningPod,
    name: string,
    kind: "init" | "main",
    state: Record<string, unknown>,
  ): void {
    if (pod.deleted || !this.options.kube.get("Pod", pod.namespace, pod.name)) return;
    this.options.kube.update("Pod", pod.namespace, pod.name, (p) => {
      const status = (p.status ?? {}) as {
        initContainerStatuses?: ContainerStatus[];
        containerStatuses?: ContainerStatus[];
      };
      const key = kind === "init" ? "initContainerStatuses" : "containerStatuses";
      status[key] = (status[key] ?? []).map((s) =>
        s.name === name ? { ...s, started: Boolean(state.running), state } : s,
      );
      p.status = status;
    });
  }

  private setPodPhase(pod: RunningPod, phase: string): void {
    if (pod.deleted || !this.options.kube.get("Pod", pod.namespace, pod.name)) return;
    this.options.kube.update("Pod", pod.namespace, pod.name, (p) => {
      p.status = { ...(p.status as object), phase };
    });
  }

  /** The pod ended: its phase, then the Job controller's conditions (one attempt: backoffLimit 0 is all Kiln uses). */
  private podEnded(pod: RunningPod, succeeded: boolean): void {
    const { kube } = this.options;
    this.setPodPhase(pod, succeeded ? "Succeeded" : "Failed");
    const job = kube.get("Job", pod.namespace, pod.job);
    if (!job || this.finished(job)) return;
    kube.update("Job", pod.namespace, pod.job, (j) => {
      const t = now();
      j.status = succeeded
        ? {
            ...(j.status as object),
            active: 0,
            succeeded: 1,
            completionTime: t,
            conditions: [
              {
                type: "SuccessCriteriaMet",
                status: "True",
                reason: "CompletionsReached",
                message: "Reached expected number of succeeded pods",
                lastProbeTime: t,
                lastTransitionTime: t,
              },
              {
                type: "Complete",
                status: "True",
                reason: "CompletionsReached",
                message: "Reached expected number of succeeded pods",
                lastProbeTime: t,
                lastTransitionTime: t,
              },
            ],
          }
        : {
            ...(j.status as object),
            active: 0,
            failed: 1,
            conditions: [
              {
                type: "FailureTarget",
                status: "True",
                reason: "BackoffLimitExceeded",
                message: "Job has reached the specified backoff limit",
                lastProbeTime: t,
                lastTransitionTime: t,
              },
              {
                type: "Failed",
                status: "True",
                reason: "BackoffLimitExceeded",
                message: "Job has reached the specified backoff limit",
                lastProbeTime: t,
                lastTransitionTime: t,
              },
            ],
          };
    });
  }

  /** A deleted pod: SIGTERM to every process of it, SIGKILL after the grace period. */
  private kill(pod: RunningPod, object: KubeObject | undefined, graceSeconds?: number): void {
    pod.deleted = true;
    const grace =
      graceSeconds ?? (object?.spec as PodSpec | undefined)?.terminationGracePeriodSeconds ?? 30;
    const tree = pod.killed;
    const signal = (sig: NodeJS.Signals) => {
      for (const child of pod.processes) {
        if (!child.pid) continue;
        for (const pid of descendantPids(child.pid)) tree.add(pid);
        tree.add(child.pid);
        try {
          process.kill(-child.pid, sig);
        } catch {
          // group gone
        }
      }
      for (const pid of tree) {
        try {
          process.kill(pid, sig);
        } catch {
          tree.delete(pid);
        }
      }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), grace * 1000);
    void pod.done.then(() => clearTimeout(timer));
  }
}
