import {
  BatchV1Api,
  CoreV1Api,
  Log,
  type KubeConfig,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import {
  BuildFailure,
  BuildStep,
  FailureReason,
  formatUidRanges,
  secretEnvRefs,
  type BuildEngine,
  type BuildJob,
  type BuildLogSink,
  type BuildOutputStatus,
  type UidRange,
} from "@kiln/domain";
import type { Logger } from "pino";
import { KubeApiError } from "./errors.js";
import {
  authSecretManifests,
  buildJobManifest,
  KubeLabel,
  type BinaryInputAccess,
  type JobManifestOptions,
  type KubeBuildIsolation,
} from "./job-manifest.js";
import { followContainerLog } from "./log-follower.js";
import { jobNameFor, labelValueFor, randomSuffix } from "./names.js";
import {
  containerStatus,
  failureOf,
  hasStarted,
  jobOutcome,
  podNotStartingReason,
  stepReportOf,
} from "./pod-status.js";
import { ContainerName } from "./termination.js";

export interface KubernetesEngineOptions {
  /** Where the API server is and how to authenticate (`KubeConfig.loadFromDefault()`: KUBECONFIG, ~/.kube/config or in-cluster). */
  kubeConfig: KubeConfig;
  /** The namespace build Jobs run in. */
  namespace: string;
  /** The Kiln image the build pod's containers run. */
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never" | undefined;
  /** Service account of build pods (its token is not mounted). @default the namespace's default */
  serviceAccountName?: string | undefined;
  /** The step command inside the Kiln image. @default ["kiln-build-step"] */
  stepCommand?: readonly string[];
  insecureRegistries: readonly string[];
  /** S2I's allowed-UIDs rule, as for the local engine. @default [] (all) */
  allowedUids?: readonly UidRange[];
  /** Largest unpacked binary input. @default 2 GiB */
  maxInputBytes?: number;
  /** How long a finished Job is kept (for `kubectl logs`). @default 3600 */
  ttlSecondsAfterFinished?: number;
  /** The user the build pod runs as. @default 1000 */
  runAsUser?: number;
  /** See `JobManifestOptions.buildAppArmorProfile`. @default "Unconfined" */
  buildAppArmorProfile?: "Unconfined" | "RuntimeDefault";
  /** See `JobManifestOptions.isolation`. @default "pod" */
  isolation?: KubeBuildIsolation;
  /**
   * Binary builds: the NATS URL (as the build pods reach it) and subject prefix from which the
   * init container reads the upload. Without it, binary builds fail with InvalidBinaryInput.
   */
  binaryInput?: BinaryInputAccess | undefined;
  /** How often the Job and its pod are read while a build runs. @default 1000 */
  pollIntervalMs?: number;
  /** How long a pod may stay unschedulable or unable to pull the Kiln image before the build fails. @default 300000 */
  podStartTimeoutMs?: number;
  /** How long, after the Job ended, the pod's log streams may take to deliver their last lines. @default 5000 */
  logDrainMs?: number;
  /**
   * How long the API server may fail to answer (5xx, unreachable) while a build runs before the
   * build is given up (an Error; the Job is deleted). A blip must not end a long build. @default 60000
   */
  apiOutageMs?: number;
  logger?: Logger | undefined;
}

/** `--> Build` lines of the step command become the build log's step markers. */
const stepLine = new RegExp(`^--> (${Object.values(BuildStep).join("|")})$`);

/**
 * The `kubernetes` engine: one Job per build in a configured namespace. Its init container
 * fetches the source and its build container builds and pushes it with buildah, unprivileged
 * (see job-manifest.ts); both run Kiln's step command, which is the local engine's own code.
 * The engine streams the pod's logs into the build's log, takes the revision and the pushed
 * digest from the containers' termination messages, and turns a failed Job into a
 * `BuildFailure` with its reason. Cancelling deletes the Job.
 */
export class KubernetesEngine implements BuildEngine {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly logs: Log;
  private readonly manifestOptions: JobManifestOptions;

  constructor(private readonly options: KubernetesEngineOptions) {
    // Clients only: nothing is sent before the first build.
    this.batch = options.kubeConfig.makeApiClient(BatchV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.logs = new Log(options.kubeConfig);
    this.manifestOptions = {
      namespace: options.namespace,
      image: options.image,
      imagePullPolicy: options.imagePullPolicy,
      serviceAccountName: options.serviceAccountName,
      stepCommand: options.stepCommand ?? ["kiln-build-step"],
      insecureRegistries: options.insecureRegistries,
      allowedUids: formatUidRanges(options.allowedUids ?? []),
      maxInputBytes: options.maxInputBytes ?? 2 * 1024 ** 3,
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished ?? 3600,
      runAsUser: options.runAsUser,
      buildAppArmorProfile: options.buildAppArmorProfile,
      isolation: options.isolation,
      binaryInput: options.binaryInput,
    };
  }

  async run(
    job: BuildJob,
    sink: BuildLogSink,
    signal: AbortSignal,
  ): Promise<BuildOutputStatus | null> {
    if (signal.aborted) throw signal.reason;
    if (job.spec.binaryInput && !this.options.binaryInput) {
      throw new BuildFailure(
        FailureReason.InvalidBinaryInput,
        "this build-runner's kubernetes engine has no NATS URL for binary inputs (BUILD_RUNNER_KUBE_NATS_URL)",
      );
    }
    // The build pod reads its spec from the Job's env (KILN_BUILD): a value read from a Secret
    // would sit in the cluster's Job object in clear, so such a build is refused, not leaked.
    const [secretEnv] = secretEnvRefs(job.spec);
    if (secretEnv)
      throw new BuildFailure(
        FailureReason.CannotCreateBuildPod,
        `${secretEnv.field} (${secretEnv.env}) reads a Secret: env values from Secrets are not supported on the kubernetes engine yet (use the local engine)`,
      );
    const { namespace } = this.options;
    await this.removeEarlierAttempts(job, sink);
    const jobName = jobNameFor(job, randomSuffix());
    const manifest = buildJobManifest(
      job,
      jobName,
      { pull: Boolean(job.credentials?.pull), push: Boolean(job.credentials?.push) },
      this.manifestOptions,
    );
    let created: V1Job;
    try {
      created = await this.batch.createNamespacedJob({ namespace, body: manifest });
    } catch (error) {
      throw refused(error, "the cluster refused the build's Job");
    }
    sink.line(`Running in Job ${namespace}/${jobName}`);
    const secrets: string[] = [];
    const state = { ended: false };
    try {
      // After the Job, so that each Secret is owned by it from its first moment (the garbage
      // collector removes it with the Job whatever becomes of this runner). The pod waits for
      // its Secret volumes, so creating them a moment later only delays its start.
      const uid = created.metadata?.uid;
      if (!uid) throw new KubeApiError("the API server returned the Job without a uid", null);
      for (const secret of authSecretManifests(
        job,
        { name: jobName, uid },
        job.credentials,
        this.manifestOptions,
      )) {
        try {
          await this.core.createNamespacedSecret({ namespace, body: secret });
        } catch (error) {
          throw refused(error, "the cluster refused the build's registry credentials Secret");
        }
        secrets.push(secret.metadata?.name ?? "");
      }
      return await this.follow(jobName, sink, signal, state);
    } catch (error) {
      // Cancelled, stuck, or we can no longer follow it: nobody will read the Job's outcome, so
      // stop it. A Job that ended by itself is left for `kubectl` until its TTL.
      if (!state.ended || signal.aborted) await this.deleteJob(jobName);
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      // Credentials live no longer than the build, even though the Job is kept for its TTL.
      await this.deleteSecrets(secrets);
    }
  }

  /** Follows the Job to its end: logs into the sink, the revision, then the output or the failure. */
  private async follow(
    jobName: string,
    sink: BuildLogSink,
    signal: AbortSignal,
    state: { ended: boolean },
  ): Promise<BuildOutputStatus | null> {
    const pollMs = this.options.pollIntervalMs ?? 1000;
    const startTimeoutMs = this.options.podStartTimeoutMs ?? 300_000;
    const started = Date.now();
    const onLine = (line: string) => {
      const step = stepLine.exec(line)?.[1] as BuildStep | undefined;
      if (step) sink.step(step);
      else sink.line(line);
    };
    const stopLogs = new AbortController();
    const cancelLogs = () => stopLogs.abort();
    signal.addEventListener("abort", cancelLogs, { once: true });
    let fetchLog: Promise<void> | null = null;
    let buildLog: Promise<void> | null = null;
    let revisionSeen = false;
    let failingSince: number | null = null;
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        let job: V1Job;
        let pod: V1Pod | undefined;
        try {
          job = await this.readJob(jobName);
          // Read after the Job, the pod is at least as new: a Job that ended has a pod whose statuses are final.
          pod = await this.currentPod(jobName);
          failingSince = null;
        } catch (error) {
          // Unreachable, 5xx and 429 pass; a 4xx (RBAC taken away) will not.
          const transient =
            error instanceof KubeApiError &&
            (error.status === null || error.status >= 500 || error.status === 429);
          if (!transient) throw error;
          failingSince ??= Date.now();
          if (Date.now() - failingSince > (this.options.apiOutageMs ?? 60_000)) throw error;
          this.options.logger?.warn(
            { job: jobName, status: error.status },
            "kubernetes api failed while following a build, retrying",
          );
          await sleep(pollMs, signal);
          continue;
        }
        if (pod?.metadata?.name) {
          const podName = pod.metadata.name;
          if (!fetchLog && hasStarted(containerStatus(pod, ContainerName.Fetch))) {
            fetchLog = this.followLog(podName, ContainerName.Fetch, onLine, stopLogs.signal);
          }
          // The build container's lines come after every line of the fetch container.
          if (fetchLog && !buildLog && hasStarted(containerStatus(pod, ContainerName.Build))) {
            const previous = fetchLog;
            buildLog = previous.then(() =>
              this.followLog(podName, ContainerName.Build, onLine, stopLogs.signal),
            );
          }
        }
        if (!revisionSeen) {
          const report = stepReportOf(pod, ContainerName.Fetch);
          if (report && "revision" in report) {
            revisionSeen = true;
            if (report.revision) sink.sourceFetched(report.revision);
          }
        }
        const outcome = jobOutcome(job);
        if (outcome !== "Running") {
          state.ended = true;
          await this.drainLogs([fetchLog, buildLog], stopLogs);
          if (outcome === "Failed") throw failureOf(job, pod);
          const report = stepReportOf(pod, ContainerName.Build);
          if (report && "output" in report) return report.output;
          throw new BuildFailure(
            FailureReason.InternalError,
            "the build's Job completed but its build container reported no output",
          );
        }
        if (
          !hasStarted(containerStatus(pod, ContainerName.Fetch)) &&
          Date.now() - started > startTimeoutMs
        ) {
          const why =
            podNotStartingReason(pod) ??
            (pod ? "the build pod did not start" : "the Job created no pod");
          throw new BuildFailure(
            FailureReason.CannotCreateBuildPod,
            `${why} within ${Math.round(startTimeoutMs / 1000)} s`,
          );
        }
        await sleep(pollMs, signal);
      }
    } finally {
      signal.removeEventListener("abort", cancelLogs);
      stopLogs.abort();
    }
  }

  private followLog(
    pod: string,
    container: ContainerName,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return followContainerLog({
      log: this.logs,
      namespace: this.options.namespace,
      pod,
      container,
      onLine,
      signal,
      hasEnded: async () => {
        const current = await this.core
          .readNamespacedPod({ name: pod, namespace: this.options.namespace })
          .catch((error: unknown) => {
            if (KubeApiError.statusOf(error) === 404) return null;
            throw error;
          });
        return !current || Boolean(containerStatus(current, container)?.state?.terminated);
      },
    });
  }

  /** Lets the log streams deliver their last lines (they end with their containers), then stops them. */
  private async drainLogs(streams: (Promise<void> | null)[], stop: AbortController): Promise<void> {
    const all = Promise.all(streams.filter((s): s is Promise<void> => s !== null));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise<void>(
        (resolve) => (timer = setTimeout(resolve, this.options.logDrainMs ?? 5000)),
      ),
    ]);
    clearTimeout(timer);
    stop.abort();
    await all;
  }

  /**
   * Usable when the cluster answers and lets the runner list Jobs in its namespace (what every
   * build does first): one small request per probe.
   */
  async check(): Promise<string | null> {
    try {
      await this.batch.listNamespacedJob({ namespace: this.options.namespace, limit: 1 });
      return null;
    } catch (error) {
      return apiError(error, `listing Jobs in ${this.options.namespace} failed`).message;
    }
  }

  private async readJob(name: string): Promise<V1Job> {
    try {
      return await this.batch.readNamespacedJob({ name, namespace: this.options.namespace });
    } catch (error) {
      if (KubeApiError.statusOf(error) === 404)
        throw new BuildFailure(
          FailureReason.BuildPodEvicted,
          `the build's Job ${name} was deleted by someone else`,
        );
      throw apiError(error, "reading the build's Job failed");
    }
  }

  /** The Job's pod (the newest, should the Job controller ever make a second one). */
  private async currentPod(jobName: string): Promise<V1Pod | undefined> {
    try {
      const pods = await this.core.listNamespacedPod({
        namespace: this.options.namespace,
        labelSelector: `${KubeLabel.Job}=${jobName}`,
      });
      const created = (pod: V1Pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
      return [...pods.items].sort((a, b) => created(b) - created(a))[0];
    } catch (error) {
      throw apiError(error, "listing the build's pod failed");
    }
  }

  /** A redelivered build (its runner died) must not leave the Job of its earlier attempt running. */
  private async removeEarlierAttempts(job: BuildJob, sink: BuildLogSink): Promise<void> {
    let earlier: V1Job[];
    try {
      earlier = (
        await this.batch.listNamespacedJob({
          namespace: this.options.namespace,
          labelSelector: `${KubeLabel.BuildId}=${labelValueFor(job.id)}`,
        })
      ).items;
    } catch (error) {
      throw apiError(error, "listing the build's earlier Jobs failed");
    }
    for (const old of earlier) {
      const name = old.metadata?.name;
      if (!name) continue;
      await this.deleteJob(name);
      sink.line(`Deleted Job ${this.options.namespace}/${name} of an earlier attempt`);
    }
  }

  /** Deletes a Job and, in the background, its pod (the pod's containers get SIGTERM). Best effort. */
  private async deleteJob(name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({
        name,
        namespace: this.options.namespace,
        propagationPolicy: "Background",
      });
    } catch (error) {
      if (KubeApiError.statusOf(error) === 404) return;
      this.options.logger?.warn(
        { job: name, status: KubeApiError.statusOf(error) },
        "could not delete a build job",
      );
    }
  }

  private async deleteSecrets(names: string[]): Promise<void> {
    for (const name of names) {
      try {
        await this.core.deleteNamespacedSecret({ name, namespace: this.options.namespace });
      } catch (error) {
        // Owned by the Job: the garbage collector removes it with the Job in any case.
        if (KubeApiError.statusOf(error) !== 404)
          this.options.logger?.warn(
            { secret: name, status: KubeApiError.statusOf(error) },
            "could not delete a build secret",
          );
      }
    }
  }
}

/**
 * An API error while creating the build's objects: a 4xx is the cluster saying no to this
 * build (quota, admission policy, invalid resources), which the user must see on the build;
 * anything else is an API problem.
 */
function refused(error: unknown, message: string): Error {
  const status = KubeApiError.statusOf(error);
  if (status !== null && status >= 400 && status < 500) {
    return new BuildFailure(
      FailureReason.CannotCreateBuildPod,
      `${message}: ${KubeApiError.messageOf(error) ?? `HTTP ${status}`}`,
      { cause: error },
    );
  }
  return apiError(error, message);
}

function apiError(error: unknown, message: string): KubeApiError {
  const status = KubeApiError.statusOf(error);
  const detail =
    KubeApiError.messageOf(error) ??
    (status === null && error instanceof Error ? error.message : null);
  return new KubeApiError(
    `${message}${status !== null ? ` (HTTP ${status})` : ""}${detail ? `: ${detail}` : ""}`,
    status,
    { cause: error },
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
