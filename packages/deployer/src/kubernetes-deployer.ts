import { createHash } from "node:crypto";
import type { ImageChangedV1 } from "@kiln/bus";
import {
  currentTag,
  isTagItemSuperseded,
  listDeploysByStatus,
  type Db,
  type DeployRecord,
  type DeployUpdate,
  type NewDeploy,
} from "@kiln/db";
import {
  DeployReason,
  FieldPathNotFoundError,
  imageStreamTagKey,
  isTerminalDeployPhase,
  parseTriggerAnnotation,
  planImageUpdate,
  rolloutState,
  TriggerAnnotation,
  TriggerAnnotationError,
  workloadKey,
  workloadKinds,
  type ParsedTriggers,
  type WorkloadKind,
  type WorkloadObject,
} from "@kiln/domain";
import { backoffMs } from "@kiln/runtime";
import type { Logger } from "pino";
import type { DeployRecorder } from "./deploy-recorder.js";
import {
  ConflictRetriesExhaustedError,
  KubeRequestError,
  NamespaceNotWatchedError,
  NotSyncedError,
} from "./errors.js";
import { KeyedLock } from "./keyed-lock.js";
import type { KubeWorkloadApi } from "./kube-api.js";
import { TriggerIndex } from "./trigger-index.js";
import { WorkloadWatcher, type WorkloadChange } from "./workload-watcher.js";

export interface KubernetesDeployerOptions {
  api: KubeWorkloadApi;
  /** The only namespaces watched and ever patched (DEPLOYER_NAMESPACES). */
  namespaces: readonly string[];
  db: Db;
  recorder: DeployRecorder;
  logger: Logger;
  /** Longest a rollout may take before its deploy ends Failed with DeadlineExceeded. @default 600000 */
  rolloutDeadlineMs?: number;
  /** @default Deployment, StatefulSet, DaemonSet, CronJob */
  kinds?: readonly WorkloadKind[];
  /** 409 Conflicts in a row on one workload before the image change is retried later. @default 5 */
  maxConflictRetries?: number;
  /** How long an image change waits for every watch's first list. @default 15000 */
  syncTimeoutMs?: number;
}

/** An image a workload should run: from an image change, or the tag's current image for a newly annotated workload. */
interface ImageTarget {
  /** `namespace/imagestream:tag` */
  tagKey: string;
  digest: string;
  imageReference: string;
  cause: { type: string; build?: string | undefined; message?: string | undefined };
  /** The tag history item, to tell a late delivery from the newest change. */
  itemId?: string | undefined;
  /** Already known: a newer image of the tag is recorded (checked once per change, not per follower). */
  superseded?: boolean;
}

interface Tracker {
  deploy: DeployRecord;
  key: string;
  kind: WorkloadKind;
  /** The generation the patch made; the controller must observe at least this one. */
  generation: number;
  timer: NodeJS.Timeout;
  lastMessage: string;
}

const hash = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 16);

/**
 * The Kubernetes half of the deployer. It watches the annotated workloads of the configured
 * namespaces (Deployment, StatefulSet, DaemonSet, CronJob), keeps ImageStream tag → followers,
 * and on an image change patches each follower's containers to the digest-pinned reference
 * (strategic merge, conditional on the resourceVersion read; a 409 is re-read and re-planned),
 * records a deploy, and follows the rollout to Complete or Failed. A workload that gets a trigger
 * annotation is brought to the tag's current image at once. It never patches outside its
 * namespaces: it only watches those, and refuses any other before a patch.
 */
export class KubernetesDeployer {
  private readonly watchers = new Map<string, WorkloadWatcher>();
  private readonly index = new TriggerIndex();
  /** The trigger annotation value last handled per workload: a relist with the same value changes nothing. */
  private readonly annotations = new Map<string, string | undefined>();
  private readonly workloadLocks = new KeyedLock();
  private readonly trackers = new Map<string, Tracker>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly namespaces: ReadonlySet<string>;
  private readonly kinds: readonly WorkloadKind[];
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly options: KubernetesDeployerOptions) {
    this.namespaces = new Set(options.namespaces);
    this.kinds = options.kinds ?? workloadKinds;
    this.log = options.logger.child({ component: "kubernetes-deployer" });
  }

  /** Starts the watches (and, once they have listed, resumes the rollouts a previous run was following). */
  start(): void {
    for (const namespace of this.namespaces) {
      for (const kind of this.kinds) {
        const watcher = new WorkloadWatcher({
          api: this.options.api,
          kind,
          namespace,
          logger: this.options.logger,
          onChange: (c) => this.onChange(c),
        });
        this.watchers.set(`${kind}/${namespace}`, watcher);
        watcher.start();
      }
    }
    this.inBackground(this.resumeRollouts(), "could not resume rollouts");
  }

  /** Stops the watches and rollout timers; rollouts still running are resumed by the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.watchers.values()].map((w) => w.stop()));
    for (const t of this.trackers.values()) clearTimeout(t.timer);
    this.trackers.clear();
    await Promise.allSettled([...this.background]);
  }

  /** Whether every watch has listed its workloads. */
  get synced(): boolean {
    return [...this.watchers.values()].every((w) => w.hasSynced);
  }

  /** For logs and tests: workloads following a tag, rollouts being followed. */
  stats(): { workloads: number; rollouts: number; synced: boolean } {
    return { workloads: this.index.size, rollouts: this.trackers.size, synced: this.synced };
  }

  /**
   * Rolls every workload following the changed tag to its new image. Throws (so the message is
   * redelivered) when a follower could not be patched for a reason worth retrying; the followers
   * already done are found done again by their deploy key.
   */
  async onImageChanged(change: ImageChangedV1): Promise<void> {
    await this.waitSynced();
    const tagKey = imageStreamTagKey(change.namespace, `${change.imageStream}:${change.tag}`);
    const followers = this.index.followers(tagKey);
    if (followers.length === 0) return;
    // A change delivered late (after a newer one of the same tag) must not roll anything back.
    const superseded = change.itemId
      ? await isTagItemSuperseded(this.options.db, change.itemId)
      : false;
    const target: ImageTarget = {
      tagKey,
      digest: change.digest,
      imageReference: change.imageReference,
      cause: change.cause,
      itemId: change.itemId,
      superseded,
    };
    const results = await Promise.allSettled(followers.map((w) => this.deploy(w.key, target)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  private async waitSynced(): Promise<void> {
    if (this.synced) return;
    const timeoutMs = this.options.syncTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new NotSyncedError(
              `the Kubernetes watches have not listed their workloads within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all([...this.watchers.values()].map((w) => w.synced)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Watch events

  private onChange(change: WorkloadChange): void {
    const object = change.object;
    const { namespace, name } = object.metadata;
    const key = workloadKey(object.kind, namespace, name);
    if (change.type === "DELETED") {
      this.index.remove(key);
      this.annotations.delete(key);
      const tracker = this.trackers.get(key);
      if (tracker)
        this.finishTracker(tracker, {
          status: "Failed",
          reason: DeployReason.WorkloadNotFound,
          message: `${key} was deleted during its rollout`,
        });
      return;
    }
    const tracker = this.trackers.get(key);
    if (tracker) this.evaluate(tracker, object);

    const annotations = object.metadata.annotations;
    const value =
      annotations?.[TriggerAnnotation.Kiln] ?? annotations?.[TriggerAnnotation.OpenShift];
    if (this.annotations.has(key) && this.annotations.get(key) === value) return;
    this.annotations.set(key, value);
    if (value === undefined) {
      this.index.remove(key);
      return;
    }
    let parsed: ParsedTriggers | null;
    try {
      parsed = parseTriggerAnnotation(annotations, { kind: object.kind, namespace });
    } catch (error) {
      // A workload whose annotation cannot be read follows nothing until it is fixed.
      this.index.remove(key);
      if (error instanceof TriggerAnnotationError) {
        this.inBackground(
          this.recordInvalidAnnotation(
            object,
            value,
            DeployReason.InvalidTriggerAnnotation,
            error.message,
          ),
          "could not record an invalid trigger annotation",
        );
      } else throw error;
      return;
    }
    if (!parsed) return;
    this.index.set({ key, kind: object.kind, namespace, name, triggers: parsed.triggers });
    this.inBackground(
      this.syncWorkload(key, object, parsed),
      "could not bring a newly annotated workload to its current image",
    );
  }

  /**
   * Records, once per annotation value (a relist or a restart finds the same record), that a
   * workload's triggers cannot be followed as written.
   */
  private async recordInvalidAnnotation(
    object: WorkloadObject,
    value: string,
    reason: DeployReason,
    message: string,
  ): Promise<void> {
    const { namespace, name } = object.metadata;
    const key = workloadKey(object.kind, namespace, name);
    const { created, deploy } = await this.options.recorder.begin({
      key: `${key}:annotation@${hash(value)}`,
      namespace,
      targetKind: object.kind,
      targetNamespace: namespace,
      targetName: name,
      causeType: "Annotated",
      causeMessage: "the workload's trigger annotation changed",
      status: "Failed",
      reason,
      message,
    });
    if (created)
      this.log.warn(
        { deployId: deploy.id, workload: key, reason, err: message },
        "invalid trigger annotation; workload left as it is",
      );
  }

  /**
   * A workload just got (or changed) its annotation: check every fieldPath against it, then bring
   * it to the current image of each tag it follows, as OpenShift does when the annotation is set.
   */
  private async syncWorkload(
    key: string,
    object: WorkloadObject,
    parsed: ParsedTriggers,
  ): Promise<void> {
    const problems: string[] = [];
    for (const trigger of parsed.triggers) {
      try {
        planImageUpdate(object, [trigger.fieldPath], "");
      } catch (error) {
        if (error instanceof FieldPathNotFoundError) problems.push(error.message);
        else throw error;
      }
    }
    if (problems.length > 0)
      await this.recordInvalidAnnotation(
        object,
        parsed.value,
        DeployReason.FieldPathNotFound,
        problems.join("; "),
      );
    const tags = new Map(
      parsed.triggers.filter((t) => !t.paused).map((t) => [t.tagKey, t.imageStreamTag]),
    );
    for (const [tagKey, ist] of tags) {
      await this.withRetries(async () => {
        const current = await currentTag(this.options.db, ist.namespace, ist.name, ist.tag);
        if (!current) return; // the tag has no image yet: the first image change deploys it
        await this.deploy(key, {
          tagKey,
          digest: current.digest,
          imageReference: current.imageReference,
          cause: {
            type: "Annotated",
            message: `the workload was annotated; ${tagKey} is at ${current.digest}`,
          },
          itemId: current.id,
        });
      });
    }
  }

  private async withRetries(task: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await task();
      } catch (error) {
        const retryable = (error as { retryable?: boolean }).retryable !== false;
        if (!retryable || attempt >= 5 || this.stopped) throw error;
        await new Promise((r) => setTimeout(r, backoffMs(attempt, { baseMs: 500 })));
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Deploying one workload

  private cached(kind: WorkloadKind, namespace: string, name: string): WorkloadObject | undefined {
    return this.watchers.get(`${kind}/${namespace}`)?.get(name);
  }

  /**
   * Sets one tag's image on one workload, one deploy at a time per workload. The deploy key is
   * `<workload>:<tag>@<digest>`: a redelivered change finds its deploy and carries on from there.
   */
  private deploy(key: string, target: ImageTarget): Promise<void> {
    return this.workloadLocks.run(key, async () => {
      const workload = this.index.get(key);
      if (!workload) return;
      const triggers = workload.triggers.filter((t) => t.tagKey === target.tagKey);
      if (triggers.length === 0) return;
      // The index only ever holds watched namespaces; this guard keeps it so whatever changes.
      if (!this.namespaces.has(workload.namespace))
        throw new NamespaceNotWatchedError(workload.namespace);
      const { recorder, api } = this.options;
      const base: NewDeploy = {
        key: `${key}:${target.tagKey}@${target.digest}`,
        namespace: workload.namespace,
        targetKind: workload.kind,
        targetNamespace: workload.namespace,
        targetName: workload.name,
        imageStreamTag: target.tagKey,
        digest: target.digest,
        imageReference: target.imageReference,
        causeType: target.cause.type,
        causeBuild: target.cause.build ?? null,
        causeMessage: target.cause.message ?? null,
        status: "Pending",
      };
      const fields = {
        deployKey: base.key,
        workload: key,
        imageStreamTag: target.tagKey,
        digest: target.digest,
      };
      const active = triggers.filter((t) => !t.paused);
      if (active.length === 0) {
        const { created, deploy } = await recorder.begin({
          ...base,
          status: "Skipped",
          reason: DeployReason.Paused,
          message: `the workload's trigger on ${target.tagKey} is paused`,
        });
        if (created)
          this.log.info(
            { ...fields, deployId: deploy.id, reason: DeployReason.Paused },
            "deploy skipped",
          );
        return;
      }
      if (
        target.superseded ??
        (target.itemId !== undefined && (await isTagItemSuperseded(this.options.db, target.itemId)))
      ) {
        const { created, deploy } = await recorder.begin({
          ...base,
          status: "Skipped",
          reason: DeployReason.Superseded,
          message: `${target.tagKey} has moved on from ${target.digest}`,
        });
        if (created)
          this.log.info(
            { ...fields, deployId: deploy.id, reason: DeployReason.Superseded },
            "deploy skipped",
          );
        return;
      }
      const { created, deploy } = await recorder.begin(base);
      if (isTerminalDeployPhase(deploy.status)) return;
      if (deploy.status === "Rolling") {
        if (this.trackers.get(key)?.deploy.id !== deploy.id) {
          const object = this.cached(workload.kind, workload.namespace, workload.name);
          if (object) this.track(deploy, key, workload.kind, object);
        }
        return;
      }

      let object =
        this.cached(workload.kind, workload.namespace, workload.name) ??
        (await api.get(workload.kind, workload.namespace, workload.name));
      let attempts = deploy.attempts;
      const maxConflicts = this.options.maxConflictRetries ?? 5;
      for (let conflicts = 0; ;) {
        if (!object)
          return this.fail(
            deploy,
            DeployReason.WorkloadNotFound,
            `${key} does not exist`,
            attempts,
          );
        let plan;
        try {
          plan = planImageUpdate(
            object,
            active.map((t) => t.fieldPath),
            target.imageReference,
          );
        } catch (error) {
          if (!(error instanceof FieldPathNotFoundError)) throw error;
          this.log.warn(
            { ...fields, deployId: deploy.id, err: error.message },
            "trigger fieldPath matches no container",
          );
          return this.fail(deploy, DeployReason.FieldPathNotFound, error.message, attempts);
        }
        if (!plan.patch) {
          if (created) {
            await recorder.transition(deploy, {
              status: "Skipped",
              reason: DeployReason.AlreadyCurrent,
              message: `already runs ${target.imageReference}`,
              targetContainers: plan.unchanged,
              attempts,
            });
            return;
          }
          // Patched by an earlier delivery that did not live to record it: follow that rollout.
          const rolling = await recorder.transition(deploy, {
            status: "Rolling",
            targetContainers: plan.unchanged,
            generation: object.metadata.generation ?? null,
            startedAt: new Date(),
            attempts,
          });
          if (rolling) this.track(rolling, key, workload.kind, object);
          return;
        }
        attempts += 1;
        let patched: WorkloadObject;
        try {
          patched = await api.patch(workload.kind, workload.namespace, workload.name, plan.patch);
        } catch (error) {
          const e = KubeRequestError.parse(error);
          if (e?.reason === "Conflict") {
            conflicts += 1;
            if (conflicts > maxConflicts) {
              await recorder.transition(deploy, { status: "Pending", attempts });
              throw new ConflictRetriesExhaustedError(
                `${key} changed under ${conflicts} patches in a row; trying again later`,
                { cause: error },
              );
            }
            this.log.debug(
              { ...fields, deployId: deploy.id, attempts },
              "patch conflict; reading the workload again",
            );
            object = await api.get(workload.kind, workload.namespace, workload.name);
            continue;
          }
          if (e?.reason === "NotFound")
            return this.fail(deploy, DeployReason.WorkloadNotFound, e.message, attempts);
          if (e?.reason === "Rejected")
            return this.fail(deploy, DeployReason.PatchRejected, e.message, attempts);
          await recorder.transition(deploy, { status: "Pending", attempts });
          throw error;
        }
        const containers = plan.changes.map((c) => c.container);
        const rolling = await recorder.transition(deploy, {
          status: "Rolling",
          attempts,
          previousImage: plan.changes[0]?.from ?? null,
          targetContainers: containers,
          generation: patched.metadata.generation ?? null,
          startedAt: new Date(),
          message: `set ${containers.join(", ")} to ${target.imageReference}`,
        });
        this.log.info(
          {
            ...fields,
            deployId: deploy.id,
            attempts,
            containers,
            generation: patched.metadata.generation,
          },
          "workload patched",
        );
        if (rolling) this.track(rolling, key, workload.kind, patched);
        return;
      }
    });
  }

  private async fail(
    deploy: DeployRecord,
    reason: DeployReason,
    message: string,
    attempts: number,
  ): Promise<void> {
    await this.options.recorder.transition(deploy, { status: "Failed", reason, message, attempts });
  }

  // ------------------------------------------------------------------------------------------
  // Following rollouts

  /** Follows a patched workload's rollout; a newer deploy of the same workload cancels the older one. */
  private track(
    deploy: DeployRecord,
    key: string,
    kind: WorkloadKind,
    object: WorkloadObject,
  ): void {
    const existing = this.trackers.get(key);
    if (existing && existing.deploy.id !== deploy.id) {
      this.finishTracker(existing, {
        status: "Cancelled",
        reason: DeployReason.Superseded,
        message: `a newer image (${deploy.digest ?? "?"}) is being rolled out`,
      });
    }
    if (this.stopped) return;
    const deadlineMs = this.options.rolloutDeadlineMs ?? 600_000;
    const startedAt = deploy.startedAt?.getTime() ?? Date.now();
    const tracker: Tracker = {
      deploy,
      key,
      kind,
      generation: deploy.generation ?? object.metadata.generation ?? 1,
      lastMessage: "waiting for the rollout to start",
      timer: setTimeout(
        () => {
          this.finishTracker(tracker, {
            status: "Failed",
            reason: DeployReason.DeadlineExceeded,
            message: `the rollout did not finish within ${deadlineMs / 1000} s (${tracker.lastMessage})`,
          });
        },
        Math.max(0, startedAt + deadlineMs - Date.now()),
      ),
    };
    tracker.timer.unref?.();
    this.trackers.set(key, tracker);
    this.evaluate(tracker, object);
    // The watch may already have brought newer status (the controller can answer before the
    // patch's response is handled here): look at the cached copy too. An older copy only says Rolling.
    const cached = this.cached(kind, object.metadata.namespace, object.metadata.name);
    if (cached && cached !== object && this.trackers.get(key) === tracker)
      this.evaluate(tracker, cached);
  }

  private evaluate(tracker: Tracker, object: WorkloadObject): void {
    const state = rolloutState({ ...object, kind: tracker.kind }, tracker.generation);
    if (state.phase === "Rolling") {
      tracker.lastMessage = state.message;
      return;
    }
    if (state.phase === "Complete")
      this.finishTracker(tracker, { status: "Complete", message: state.message });
    else
      this.finishTracker(tracker, {
        status: "Failed",
        reason: state.reason,
        message: state.message,
      });
  }

  private finishTracker(tracker: Tracker, update: DeployUpdate): void {
    if (this.trackers.get(tracker.key) !== tracker) return;
    this.trackers.delete(tracker.key);
    clearTimeout(tracker.timer);
    const fields = {
      deployId: tracker.deploy.id,
      workload: tracker.key,
      digest: tracker.deploy.digest,
      phase: update.status,
      reason: update.reason,
    };
    this.inBackground(
      this.options.recorder.transition(tracker.deploy, update).then((done) => {
        if (done) this.log[update.status === "Complete" ? "info" : "warn"](fields, "rollout ended");
      }),
      "could not record the end of a rollout",
    );
  }

  /** After a restart: follow again the rollouts that were still going, against their original deadline. */
  private async resumeRollouts(): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.synced));
    if (this.stopped) return;
    const rolling = await listDeploysByStatus(this.options.db, ["Rolling"]);
    for (const deploy of rolling) {
      const kind = deploy.targetKind as WorkloadKind;
      if (
        !this.kinds.includes(kind) ||
        !deploy.targetNamespace ||
        !this.namespaces.has(deploy.targetNamespace) ||
        !deploy.targetName
      )
        continue;
      const key = workloadKey(kind, deploy.targetNamespace, deploy.targetName);
      if (this.trackers.has(key)) continue;
      const object = this.cached(kind, deploy.targetNamespace, deploy.targetName);
      if (!object) {
        await this.fail(
          deploy,
          DeployReason.WorkloadNotFound,
          `${key} no longer exists`,
          deploy.attempts,
        );
        continue;
      }
      this.track(deploy, key, kind, object);
    }
  }

  private inBackground(task: Promise<unknown>, what: string): void {
    const tracked = task.catch((error: unknown) => this.log.error({ err: error }, what));
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }
}
