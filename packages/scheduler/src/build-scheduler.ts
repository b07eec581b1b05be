import { consumers, type Bus, type BuildCancelRequestedV1, type BuildDispatchedV1, type BuildRequestedV1, type BuildStatusChangedV1, type Consumption, type ImageChangedV1 } from "@kiln/bus";
import {
  applyBuildStatus,
  createBuildForRequest,
  getBuildById,
  getResource,
  currentTag,
  hasUnfinishedBuild,
  listAllBuildConfigs,
  listImageTriggeredBuildConfigs,
  pruneBuildHistory,
  recordImageTriggered,
  withBuildQueue,
  type Db,
  type DbOrTx,
  type TriggerableBuildConfig,
} from "@kiln/db";
import { createHash } from "node:crypto";
import { BuildGraph, FailureReason, imageChangeInputs, imageStreamTagKey, isTerminalPhase, planDispatch, type BuildRecord, type SecretSpec } from "@kiln/domain";
import type { Logger } from "pino";

export interface BuildSchedulerOptions {
  bus: Bus;
  db: Db;
  logger: Logger;
  /** Registry that ImageStreamTag outputs are pushed to (`host:port`). */
  registry: string;
}

/**
 * Turns build requests into numbered builds and dispatches them; records every status a
 * runner reports. The database is the source of truth for phases; the bus carries facts.
 */
export class BuildScheduler {
  private consumptions: Consumption[] = [];
  private exhausted: { stop(): void } | null = null;
  private readonly log: Logger;

  constructor(private readonly options: BuildSchedulerOptions) {
    this.log = options.logger.child({ component: "build-scheduler" });
  }

  async start(): Promise<void> {
    const { bus } = this.options;
    this.consumptions = [
      await bus.consume<"build.requested">("scheduler-build-requested", (p) => this.onRequested(p)),
      await bus.consume<"build.status-changed">("scheduler-build-status", (p) => this.onStatusChanged(p)),
      await bus.consume<"build.cancel-requested">("scheduler-build-cancel", (p) => this.onCancelRequested(p)),
      await bus.consume<"image.changed">("scheduler-image-changed", (p) => this.onImageChanged(p)),
    ];
    // A build whose runners died on it `maxDeliver` times must not stay Running for ever.
    this.exhausted = bus.watchExhausted<"build.dispatched">("build-runner-dispatched", (p) => this.onRunnerLost(p));
  }

  async stop(): Promise<void> {
    this.exhausted?.stop();
    const consumptions = this.consumptions;
    this.consumptions = [];
    await Promise.all(consumptions.map((c) => c.stop()));
  }

  /**
   * Idempotent: a redelivered request finds the build it already made (by request id); if that
   * build is still `New` it is dispatched again, which JetStream drops as a duplicate if the
   * first dispatch got through.
   */
  private async onRequested(request: BuildRequestedV1): Promise<void> {
    const { db, registry } = this.options;
    const { build, created } = await createBuildForRequest(db, request, { registry });
    if (created) {
      this.log.info({ buildId: build.id, build: build.name, namespace: build.namespace, requestId: request.requestId, cause: request.cause.type }, "build created");
    }
    await this.advanceQueue(build.namespace, build.buildConfig);
  }

  /**
   * Dispatches what the BuildConfig's run policy allows now, and cancels what it supersedes.
   * Called whenever the queue may move: a build was created, ended or was cancelled. The
   * dispatch is published before the transaction commits `Pending`: if the commit fails, the
   * build is still `New` and is dispatched again (JetStream drops the duplicate), never lost.
   */
  private async advanceQueue(namespace: string, buildConfig: string): Promise<void> {
    const ended: BuildRecord[] = [];
    await withBuildQueue(this.options.db, namespace, buildConfig, async (tx, queue) => {
      const plan = planDispatch(queue.spec.runPolicy, queue.builds);
      const byId = new Map(queue.builds.map((b) => [b.id, b]));
      const newest = queue.builds.at(-1);
      for (const id of plan.cancel) {
        const { applied, build } = await applyBuildStatus(tx, {
          buildId: id,
          phase: "Cancelled",
          attempt: 0,
          at: new Date(),
          reason: FailureReason.CancelledBuild,
          message: `superseded by ${newest?.name ?? "a newer build"} (runPolicy SerialLatestOnly)`,
        });
        if (applied && build) {
          ended.push(build);
          this.log.info({ buildId: id, build: build.name, namespace }, "queued build superseded");
        }
      }
      for (const id of plan.dispatch) {
        const build = byId.get(id)!;
        const failure = await this.dispatch(tx, build);
        if (failure) {
          ended.push(build);
          continue;
        }
        await applyBuildStatus(tx, { buildId: build.id, phase: "Pending", attempt: 0, at: new Date() });
        this.log.info({ buildId: build.id, build: build.name, namespace, runPolicy: queue.spec.runPolicy }, "build dispatched");
      }
    });
    for (const build of ended) await this.prune(build);
  }

  /**
   * Publishes the build for a runner. Returns a reason when it cannot run (a named Secret is
   * missing) and was failed instead; null when dispatched.
   */
  private async dispatch(db: DbOrTx, build: BuildRecord): Promise<FailureReason | null> {
    const credentials: { pull?: string; push?: string } = {};
    for (const [use, name] of [
      ["pull", build.spec.credentials?.pullSecret],
      ["push", build.spec.credentials?.pushSecret],
    ] as const) {
      if (!name) continue;
      const secret = await getResource(db, "Secret", build.namespace, name);
      if (!secret) {
        await applyBuildStatus(db, {
          buildId: build.id,
          phase: "Failed",
          attempt: 0,
          at: new Date(),
          reason: FailureReason.MissingSecret,
          message: `the ${use} secret ${build.namespace}/${name} does not exist`,
        });
        this.log.warn({ buildId: build.id, build: build.name, secret: name }, "build failed: secret not found");
        return FailureReason.MissingSecret;
      }
      credentials[use] = (secret.spec as SecretSpec).dockerConfigJson;
    }
    await this.options.bus.publish(
      "build.dispatched",
      build.id,
      {
        v: 1,
        buildId: build.id,
        namespace: build.namespace,
        name: build.name,
        spec: build.spec,
        ...(credentials.pull || credentials.push ? { credentials } : {}),
      },
      { msgId: `${build.id}:dispatch` },
    );
    return null;
  }

  private async onStatusChanged(event: BuildStatusChangedV1): Promise<void> {
    const { applied, build } = await applyBuildStatus(this.options.db, {
      buildId: event.buildId,
      phase: event.phase,
      attempt: event.attempt,
      at: new Date(event.at),
      reason: event.reason,
      message: event.message,
      output: event.output,
      logSnippet: event.logSnippet,
      revision: event.revision,
    });
    this.log.info(
      { buildId: event.buildId, build: event.name, phase: event.phase, applied, current: build?.phase },
      applied ? "build status recorded" : "build status ignored",
    );
    if (applied && build && isTerminalPhase(build.phase)) {
      await this.prune(build);
      // The next queued build of a Serial BuildConfig may go now.
      await this.advanceQueue(build.namespace, build.buildConfig);
      await this.reconcileDownstreamOf(build);
    }
  }

  private async prune(build: BuildRecord): Promise<void> {
    const pruned = await pruneBuildHistory(this.options.db, build.namespace, build.buildConfig);
    if (pruned.length > 0) this.log.info({ buildConfig: build.buildConfig, namespace: build.namespace, pruned }, "old builds pruned");
  }

  private async onRunnerLost(dispatch: BuildDispatchedV1): Promise<void> {
    const { applied, build } = await applyBuildStatus(this.options.db, {
      buildId: dispatch.buildId,
      phase: "Error",
      attempt: consumers["build-runner-dispatched"].maxDeliver,
      at: new Date(),
      reason: FailureReason.RunnerLost,
      message: `no runner finished the build after ${consumers["build-runner-dispatched"].maxDeliver} attempts`,
    });
    this.log.error({ buildId: dispatch.buildId, build: dispatch.name, applied }, "build lost its runners");
    if (applied && build) {
      await this.prune(build);
      await this.advanceQueue(build.namespace, build.buildConfig);
    }
  }

  /**
   * ImageChange triggers: every BuildConfig following the tag that moved is reconciled, with
   * the event's digest for that input.
   */
  private async onImageChanged(event: ImageChangedV1): Promise<void> {
    const key = imageStreamTagKey(event.namespace, `${event.imageStream}:${event.tag}`);
    for (const bc of await listImageTriggeredBuildConfigs(this.options.db)) {
      if (!imageChangeInputs(bc.spec, bc.namespace).some((i) => i.key === key)) continue;
      await this.reconcileImageInputs(bc, { [key]: { digest: event.digest, imageReference: event.imageReference } });
    }
  }

  /**
   * A build ended: BuildConfigs downstream of it may have been waiting for it (a cascade), or
   * it may have produced nothing new (failed, same digest) while another input did change.
   */
  private async reconcileDownstreamOf(build: BuildRecord): Promise<void> {
    const graph = new BuildGraph(await listAllBuildConfigs(this.options.db));
    const downstream = new Set(graph.downstream.get(`${build.namespace}/${build.buildConfig}`) ?? []);
    if (downstream.size === 0) return;
    for (const bc of await listImageTriggeredBuildConfigs(this.options.db)) {
      if (downstream.has(`${bc.namespace}/${bc.name}`)) await this.reconcileImageInputs(bc, {}, graph);
    }
  }

  /**
   * Level-based ImageChange triggering: a BuildConfig builds when one of its (unpaused) inputs
   * is at a digest it was not yet built from, and once per such state:
   * - the request id is made of the BuildConfig and the digests it builds, so however often
   *   an event is redelivered or both paths below race, one build results;
   * - while a BuildConfig upstream of it is still building, it waits: that build's change (or
   *   its end) reconciles it again, so a BuildConfig with two changed inputs builds once,
   *   after both are current, and a failed upstream build loses no trigger.
   */
  private async reconcileImageInputs(bc: TriggerableBuildConfig, known: Record<string, { digest: string; imageReference: string }>, graphIn?: BuildGraph): Promise<void> {
    const { db, bus } = this.options;
    const log = this.log.child({ buildConfig: bc.name, namespace: bc.namespace });
    const changed: Record<string, { digest: string; imageReference: string }> = {};
    for (const input of imageChangeInputs(bc.spec, bc.namespace)) {
      if (input.paused) continue;
      const current = known[input.key] ?? (await this.currentImage(input.key));
      if (current && current.digest !== bc.imageTriggers[input.key]) changed[input.key] = current;
    }
    const keys = Object.keys(changed).sort();
    if (keys.length === 0) return;
    const graph = graphIn ?? new BuildGraph(await listAllBuildConfigs(db));
    const busy: string[] = [];
    for (const ancestor of graph.ancestors(`${bc.namespace}/${bc.name}`)) {
      const [ns, name] = ancestor.split("/") as [string, string];
      if (await hasUnfinishedBuild(db, ns, name)) busy.push(ancestor);
    }
    if (busy.length > 0) {
      log.info({ images: keys, waitingFor: busy }, "image change deferred: an upstream build is still running");
      return;
    }
    const digests = keys.map((k) => `${k}@${changed[k]!.digest}`).join(",");
    const requestId = `image-${bc.uid}-${createHash("sha256").update(digests).digest("hex").slice(0, 32)}`;
    await bus.publish(
      "build.requested",
      requestId,
      {
        v: 1,
        requestId,
        namespace: bc.namespace,
        buildConfig: bc.name,
        env: [],
        cause: {
          type: "ImageChange",
          message: `Image change: ${keys.map((k) => `${k} is now ${changed[k]!.digest}`).join("; ")}`,
          image: changed[keys[0]!]!.imageReference,
        },
        requestedAt: new Date().toISOString(),
        pinnedImages: Object.fromEntries(keys.map((k) => [k, changed[k]!.imageReference])),
      },
      { msgId: requestId },
    );
    for (const k of keys) await recordImageTriggered(db, bc.uid, k, changed[k]!.digest);
    log.info({ images: keys }, "build requested by an image change");
  }

  /** The digest an ImageStream tag (`ns/is:tag`) is at now, from the image-watcher's history. */
  private async currentImage(key: string): Promise<{ digest: string; imageReference: string } | null> {
    const match = /^([^/]+)\/([^:]+):(.+)$/.exec(key);
    if (!match) return null;
    const row = await currentTag(this.options.db, match[1]!, match[2]!, match[3]!);
    return row ? { digest: row.digest, imageReference: row.imageReference } : null;
  }

  /** A build no runner holds yet is cancelled here; a running one is stopped by its runner. */
  private async onCancelRequested(event: BuildCancelRequestedV1): Promise<void> {
    const build = await getBuildById(this.options.db, event.buildId);
    if (!build || (build.phase !== "New" && build.phase !== "Pending")) return;
    const { applied } = await applyBuildStatus(this.options.db, {
      buildId: build.id,
      phase: "Cancelled",
      attempt: 0,
      at: new Date(),
      reason: FailureReason.CancelledBuild,
      message: "cancelled before it started",
    });
    if (!applied) return;
    this.log.info({ buildId: build.id, build: build.name }, "queued build cancelled");
    await this.prune(build);
    await this.advanceQueue(build.namespace, build.buildConfig);
  }
}
