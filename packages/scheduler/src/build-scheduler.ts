import {
  consumers,
  MessageTooLargeError,
  sealCredentials,
  type Bus,
  type BuildCancelRequestedV1,
  type BuildDispatchedV2,
  type RegistryCredentials,
  type BuildRequestedV1,
  type BuildStatusChangedV1,
  type Consumption,
  type ImageChangedV1,
} from "@kiln/bus";
import {
  applyBuildStatus,
  getBuildById,
  getResource,
  listImageStreamGrants,
  heldTagImages,
  loadCascadeState,
  markBuildPending,
  pruneBuildHistory,
  withBuildQueue,
  type BuildQueue,
  type Db,
  type DbOrTx,
  type Tx,
  openSecretSpec,
  type SecretBox,
} from "@kiln/db";
import { createHash } from "node:crypto";
import {
  assertNever,
  deniedUses,
  describeDeniedUse,
  FailureReason,
  formatCount,
  imageStreamTagKey,
  isTerminalPhase,
  planDispatch,
  planImageTriggeredBuilds,
  SecretType,
  type BuildConfigSpec,
  type BuildRecord,
  type SecretSpec,
  type TagImage,
} from "@kiln/domain";
import type { BuildMetrics } from "@kiln/runtime";
import { createBuildForRequest, createImageTriggeredBuild } from "./build-creation.js";
import { CoalescedPasses, forEachConcurrently } from "./coalesced-passes.js";
import { readSecretEnv } from "./secret-env.js";
import { BuildStatusAnnouncer } from "./status-announcer.js";
import type { Logger } from "pino";

export interface BuildSchedulerOptions {
  bus: Bus;
  db: Db;
  logger: Logger;
  /** Registry that ImageStreamTag outputs are pushed to (`host:port`). */
  registry: string;
  /** The runners' public sealing key (a JWK): a build's registry credentials are sealed to it. */
  runnerSealingKey: string;
  /** Opens the Secrets as stored (KILN_SECRETS_KEY). */
  secrets: SecretBox;
  /** Where applied phase changes are counted (the scheduler is the one that applies them). */
  metrics?: BuildMetrics;
}

/**
 * Turns build requests into numbered builds and dispatches them; records every status a
 * runner reports. The database is the source of truth for phases; the bus carries facts.
 */
export class BuildScheduler {
  private consumptions: Consumption[] = [];
  private exhausted: { stop(): void } | null = null;
  private readonly log: Logger;
  private readonly announcer: BuildStatusAnnouncer;
  private readonly imagePasses = new CoalescedPasses<Map<string, TagImage>>(
    (hints) => this.reconcileImageTriggers(hints),
    (into, more) => {
      for (const [key, image] of more) into.set(key, image);
      return into;
    },
  );

  constructor(private readonly options: BuildSchedulerOptions) {
    this.log = options.logger.child({ component: "build-scheduler" });
    this.announcer = new BuildStatusAnnouncer(options.bus, this.log);
  }

  async start(): Promise<void> {
    const { bus } = this.options;
    this.consumptions = [
      await bus.consume("scheduler-build-requested", (p) => this.onRequested(p)),
      // Several at a time: phases only move forward, so order between events does not matter,
      // and the BuildConfig row lock orders queue moves; the image passes then coalesce.
      await bus.consume("scheduler-build-status", (p) => this.onStatusChanged(p), {
        maxConcurrent: 16,
      }),
      await bus.consume("scheduler-build-cancel", (p) => this.onCancelRequested(p)),
      await bus.consume("scheduler-image-changed", (p) => this.onImageChanged(p), {
        maxConcurrent: 16,
      }),
    ];
    // A build whose runners died on it `maxDeliver` times must not stay Running for ever.
    this.exhausted = bus.watchExhausted<"build.dispatched">("build-runner-dispatched", (p) =>
      this.onRunnerLost(p),
    );
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
   * first dispatch got through. Its New (or Pending) is announced again too, unless the bus has
   * heard it or something newer: a request whose announcement failed is nak'ed before its
   * build is dispatched, and its redelivery says it.
   */
  private async onRequested(request: BuildRequestedV1): Promise<void> {
    const { db, registry } = this.options;
    const { build, created } = await createBuildForRequest(db, request, { registry });
    if (created) {
      this.log.info(
        {
          buildId: build.id,
          build: build.name,
          namespace: build.namespace,
          requestId: request.requestId,
          cause: request.cause.type,
        },
        "build created",
      );
    }
    if (build.phase === "New" || build.phase === "Pending")
      await this.announcer.waiting(
        build,
        build.phase,
        build.phase === "New" ? build.createdAt : new Date(),
      );
    await this.advanceQueue(build.namespace, build.buildConfig);
  }

  /**
   * Dispatches what the BuildConfig's run policy allows now, and cancels what it supersedes.
   * Called whenever the queue may move: a build was created, ended or was cancelled. The
   * dispatch is published before the transaction commits `Pending`: if the commit fails, the
   * build is still `New` and is dispatched again (JetStream drops the duplicate), never lost.
   * What it changed is announced once committed; a failed announcement loses only the news.
   */
  private async advanceQueue(
    namespace: string,
    buildConfig: string,
    ended?: BuildRecord,
  ): Promise<void> {
    const moved = await withBuildQueue(
      this.options.db,
      namespace,
      buildConfig,
      async (tx, queue) => {
        if (ended) await this.prune(tx, ended, queue.spec);
        return this.moveQueue(tx, namespace, queue);
      },
    );
    if (!moved) return;
    // Counted and announced once the transaction has committed: a rolled-back one did nothing.
    for (const build of moved.ended) {
      this.countEnded(build);
      await this.prune(this.options.db, build);
      await this.announcer.orLog(this.announcer.ended(build, 0), build, build.phase);
    }
    const at = new Date();
    for (const build of moved.dispatched)
      await this.announcer.orLog(this.announcer.waiting(build, "Pending", at), build, "Pending");
  }

  /**
   * Under the BuildConfig's lock: dispatches and cancels what its run policy says. Returns the
   * builds it ended, as recorded, and those it dispatched.
   */
  private async moveQueue(
    tx: Tx,
    namespace: string,
    queue: BuildQueue,
  ): Promise<{ ended: BuildRecord[]; dispatched: BuildRecord[] }> {
    const ended: BuildRecord[] = [];
    const dispatched: BuildRecord[] = [];
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
        if (failure.failed) ended.push(failure.failed);
        continue;
      }
      if (await markBuildPending(tx, build.id)) dispatched.push({ ...build, phase: "Pending" });
      this.log.info(
        { buildId: build.id, build: build.name, namespace, runPolicy: queue.spec.runPolicy },
        "build dispatched",
      );
    }
    return { ended, dispatched };
  }

  /**
   * Publishes the build for a runner. When it cannot run (another namespace's ImageStream it
   * may no longer use, a named Secret that is missing) it is failed instead, and the failed
   * build is returned (null inside when something else had ended it first); null when
   * dispatched.
   */
  private async dispatch(
    db: DbOrTx,
    build: BuildRecord,
  ): Promise<{ failed: BuildRecord | null } | null> {
    // Checked here, not only at apply: a grant revoked since then must stop the next build.
    // Only a build that uses another namespace's ImageStreams needs the grants read.
    const uses = build.spec.imageStreamUses ?? [];
    const denied =
      uses.length === 0 ? [] : deniedUses(uses, await listImageStreamGrants(db), build.namespace);
    if (denied.length > 0) {
      const bc = { namespace: build.namespace, name: build.buildConfig };
      const failed = await this.failUndispatched(db, build, FailureReason.ImageAccessDenied, {
        message: denied.map((use) => describeDeniedUse(bc, use)).join("; "),
        log: "build failed: image stream access not granted",
      });
      return { failed };
    }
    const credentials: RegistryCredentials = {};
    for (const [use, name] of [
      ["pull", build.spec.credentials?.pullSecret],
      ["push", build.spec.credentials?.pushSecret],
    ] as const) {
      if (!name) continue;
      const secret = await getResource(db, "Secret", build.namespace, name);
      if (!secret) {
        const failed = await this.failUndispatched(db, build, FailureReason.MissingSecret, {
          message: `the ${use} secret ${build.namespace}/${name} does not exist`,
          log: "build failed: secret not found",
          secret: name,
        });
        return { failed };
      }
      const spec = secret.spec as SecretSpec;
      switch (spec.type) {
        case SecretType.DockerConfigJson:
          credentials[use] = openSecretSpec(spec, this.options.secrets).dockerConfigJson;
          break;
        case SecretType.Opaque:
          // Applied fine (a webhook's Secret is Opaque) but useless to a registry: say so now,
          // rather than let the runner fail to log in.
          const failed = await this.failUndispatched(db, build, FailureReason.MissingSecret, {
            message: `the ${use} secret ${build.namespace}/${name} is an ${SecretType.Opaque} Secret; registry credentials need a ${SecretType.DockerConfigJson} Secret`,
            log: "build failed: secret is not registry credentials",
            secret: name,
          });
          return { failed };
        default:
          return assertNever(spec, "Secret type");
      }
    }
    const secretEnv = await readSecretEnv(db, build, this.options.secrets);
    if ("missing" in secretEnv) {
      const failed = await this.failUndispatched(db, build, FailureReason.MissingSecret, {
        ...secretEnv.missing,
        log: "build failed: a Secret its env reads is missing",
      });
      return { failed };
    }
    if (secretEnv.values) credentials.secretEnv = secretEnv.values;
    try {
      await this.options.bus.publish(
        "build.dispatched",
        build.id,
        {
          v: 2,
          buildId: build.id,
          namespace: build.namespace,
          name: build.name,
          spec: build.spec,
          ...(credentials.pull || credentials.push || credentials.secretEnv
            ? {
                sealedCredentials: await sealCredentials(
                  this.options.runnerSealingKey,
                  build.id,
                  credentials,
                ),
              }
            : {}),
        },
        { msgId: `${build.id}:dispatch` },
      );
    } catch (error) {
      if (!(error instanceof MessageTooLargeError)) throw error;
      // Retrying cannot shrink it: without this the request would be nak'ed until it is
      // dropped, and the build would stay New for ever with no reason.
      const failed = await this.failUndispatched(db, build, FailureReason.SpecTooLarge, {
        message: `the build's dispatch is ${formatCount(error.bytes)} bytes, over the ${error.maxBytes === undefined ? "" : `${formatCount(error.maxBytes)} bytes `}the bus carries (NATS max_payload): make the inline Dockerfile or env smaller`,
        log: "build failed: too large to dispatch",
      });
      return { failed };
    }
    return null;
  }

  /** Fails a build that never reached a runner, with the reason on the build and one log line. Returns the failed build, null when it had already ended. */
  private async failUndispatched(
    db: DbOrTx,
    build: BuildRecord,
    reason: FailureReason,
    what: { message: string; log: string; secret?: string },
  ): Promise<BuildRecord | null> {
    const { applied, build: failed } = await applyBuildStatus(db, {
      buildId: build.id,
      phase: "Failed",
      attempt: 0,
      at: new Date(),
      reason,
      message: what.message,
    });
    this.log.warn(
      {
        buildId: build.id,
        build: build.name,
        namespace: build.namespace,
        reason,
        secret: what.secret,
      },
      what.log,
    );
    return applied ? failed : null;
  }

  private async onStatusChanged(event: BuildStatusChangedV1): Promise<void> {
    // This scheduler's own New and Pending (attempt 0; a runner's attempts start at 1): stored
    // before they were announced, so there is nothing to apply (two transactions a build fewer).
    if (event.attempt === 0 && (event.phase === "New" || event.phase === "Pending")) return;
    const at = new Date(event.at);
    const { applied, build } = await applyBuildStatus(this.options.db, {
      buildId: event.buildId,
      phase: event.phase,
      attempt: event.attempt,
      at,
      reason: event.reason,
      message: event.message,
      output: event.output,
      logSnippet: event.logSnippet,
      revision: event.revision,
    });
    this.log.info(
      {
        buildId: event.buildId,
        build: event.name,
        phase: event.phase,
        applied,
        current: build?.phase,
      },
      applied ? "build status recorded" : "build status ignored",
    );
    // Only a build's first Running sets its start (a later attempt keeps it): that one ends its wait.
    if (applied && build?.phase === "Running" && build.startedAt?.getTime() === at.getTime())
      this.options.metrics?.started(this.sampleOf(build));
    if (applied && build && isTerminalPhase(build.phase)) {
      this.countEnded(build);
      // The next queued build of a Serial BuildConfig may go now. Always under the lock: a build
      // being created (and its queue moved) in another transaction is waited for, not missed.
      // Its history is pruned there too, where the BuildConfig's limits are at hand.
      await this.advanceQueue(build.namespace, build.buildConfig, build);
      // BuildConfigs downstream may have waited for this build to end.
      await this.imagePasses.request(new Map());
    }
  }

  private sampleOf(build: BuildRecord) {
    return { ...build, strategy: build.spec.strategy.type };
  }

  /** A terminal phase this scheduler applied: the state machine lets that happen once a build. */
  private countEnded(build: BuildRecord): void {
    this.options.metrics?.ended(this.sampleOf(build));
  }

  /**
   * Deletes the BuildConfig's ended builds past its history limits. With the limits known, a
   * build numbered within both of them is not looked at: its BuildConfig has no more builds
   * than that (most builds of a cascade, one statement a build fewer).
   */
  private async prune(
    db: DbOrTx,
    build: BuildRecord,
    limits?: Pick<BuildConfigSpec, "successfulBuildsHistoryLimit" | "failedBuildsHistoryLimit">,
  ): Promise<void> {
    if (
      limits &&
      build.number <=
        Math.min(
          limits.successfulBuildsHistoryLimit ?? Infinity,
          limits.failedBuildsHistoryLimit ?? Infinity,
        )
    )
      return;
    const pruned = await pruneBuildHistory(db, build.namespace, build.buildConfig);
    if (pruned.length > 0)
      this.log.info(
        { buildConfig: build.buildConfig, namespace: build.namespace, pruned },
        "old builds pruned",
      );
  }

  private async onRunnerLost(dispatch: BuildDispatchedV2): Promise<void> {
    const attempt = consumers["build-runner-dispatched"].maxDeliver;
    const { applied, build } = await applyBuildStatus(this.options.db, {
      buildId: dispatch.buildId,
      phase: "Error",
      attempt,
      at: new Date(),
      reason: FailureReason.RunnerLost,
      message: `no runner finished the build after ${consumers["build-runner-dispatched"].maxDeliver} attempts`,
    });
    this.log.error(
      { buildId: dispatch.buildId, build: dispatch.name, applied },
      "build lost its runners",
    );
    if (applied && build) {
      this.countEnded(build);
      await this.prune(this.options.db, build);
      // Logged, not thrown: this advisory comes once, and the dispatch must still be deleted.
      await this.announcer.orLog(this.announcer.ended(build, attempt), build, build.phase);
      await this.advanceQueue(build.namespace, build.buildConfig);
    }
  }

  /** ImageChange triggers: a tag moved. The event is also a fact the pass may not have read yet. */
  private async onImageChanged(event: ImageChangedV1): Promise<void> {
    const key = imageStreamTagKey(event.namespace, `${event.imageStream}:${event.tag}`);
    await this.imagePasses.request(
      new Map([[key, { digest: event.digest, imageReference: event.imageReference }]]),
    );
  }

  /**
   * One pass of level-based ImageChange triggering over every BuildConfig (the plan is the
   * domain's `planImageTriggeredBuilds`). Passes run one at a time; the events that arrive
   * during one share the next, so a cascade of hundreds of builds costs a few queries per pass,
   * not per event and BuildConfig. Each build is created in one transaction with the digests
   * that set it off, and its request id is made of them, so racing passes (another scheduler)
   * still make one build per state.
   */
  private async reconcileImageTriggers(hints: ReadonlyMap<string, TagImage>): Promise<void> {
    const { db, registry } = this.options;
    const started = performance.now();
    const state = await loadCascadeState(db);
    const loadedMs = performance.now() - started;
    // An image.changed event is a fact. A digest the tag's committed history does not hold is
    // newer than what this pass read: the image-watcher publishes inside the transaction that
    // records it, so the event can arrive before the commit (or comes from something other than
    // the image-watcher). A digest the history holds is an older event, redelivered: the
    // committed tag stands.
    const held = await heldTagImages(
      db,
      [...hints].map(([key, image]) => tagImageOf(key, image)),
    );
    const tags = new Map(state.tags);
    const tagHistory = new Set(state.tagHistory);
    for (const [key, image] of hints) {
      const historyKey = `${key}@${image.digest}`;
      if (!held.has(historyKey)) tags.set(key, image);
      tagHistory.add(historyKey);
    }
    const plan = planImageTriggeredBuilds({ ...state, tags, tagHistory });
    const plannedMs = performance.now() - started - loadedMs;
    this.options.metrics?.cascadeDeferred(plan.deferred.length);
    for (const { buildConfig: bc, waitingFor } of plan.deferred) {
      this.log.debug(
        { buildConfig: bc.name, namespace: bc.namespace, waitingFor: waitingFor.slice(0, 5) },
        "image change deferred: something upstream is still building",
      );
    }
    await forEachConcurrently(plan.build, 8, async ({ buildConfig: bc, changed }) => {
      const keys = Object.keys(changed);
      const digests = keys.map((k) => `${k}@${changed[k]!.digest}`).join(",");
      const requestId = `image-${bc.uid}-${createHash("sha256").update(digests).digest("hex").slice(0, 32)}`;
      // Committed before it is dispatched: a runner's first status must find the build.
      const build = await createImageTriggeredBuild(
        db,
        {
          requestId,
          namespace: bc.namespace,
          buildConfig: bc.name,
          env: [],
          cause: {
            type: "ImageChange",
            message: `Image change: ${keys.map((k) => `${k} is now ${changed[k]!.digest}`).join("; ")}`,
            image: changed[keys[0]!]!.imageReference,
          },
          pinnedImages: Object.fromEntries(keys.map((k) => [k, changed[k]!.imageReference])),
        },
        { registry },
        Object.fromEntries(keys.map((k) => [k, changed[k]!.digest])),
      );
      if (!build) return;
      this.log.info(
        {
          buildId: build.id,
          build: build.name,
          namespace: build.namespace,
          requestId,
          images: keys,
          cause: "ImageChange",
        },
        "build created",
      );
      // Logged, not thrown: the pass that made the build will not make it again.
      await this.announcer.orLog(
        this.announcer.waiting(build, "New", build.createdAt),
        build,
        "New",
      );
      await this.advanceQueue(build.namespace, build.buildConfig);
    });
    if (plan.build.length > 0 || plan.deferred.length > 0) {
      const ms = (x: number) => Math.round(x * 10) / 10;
      this.log.info(
        {
          build: plan.build.length,
          deferred: plan.deferred.length,
          loadMs: ms(loadedMs),
          planMs: ms(plannedMs),
          totalMs: ms(performance.now() - started),
        },
        "image triggers reconciled",
      );
    }
  }

  /** A build no runner holds yet is cancelled here; a running one is stopped by its runner. */
  private async onCancelRequested(event: BuildCancelRequestedV1): Promise<void> {
    const build = await getBuildById(this.options.db, event.buildId);
    if (!build || (build.phase !== "New" && build.phase !== "Pending")) return;
    const { applied, build: cancelled } = await applyBuildStatus(this.options.db, {
      buildId: build.id,
      phase: "Cancelled",
      attempt: 0,
      at: new Date(),
      reason: FailureReason.CancelledBuild,
      message: "cancelled before it started",
    });
    if (!applied || !cancelled) return;
    this.countEnded(cancelled);
    this.log.info({ buildId: build.id, build: build.name }, "queued build cancelled");
    await this.prune(this.options.db, build);
    await this.announcer.orLog(this.announcer.ended(cancelled, 0), cancelled, "Cancelled");
    await this.advanceQueue(build.namespace, build.buildConfig);
  }
}

/** The parts of an `ns/is:tag` key with the digest an event gave it (names hold no `/` or `:`). */
function tagImageOf(key: string, image: TagImage) {
  const slash = key.indexOf("/");
  const colon = key.lastIndexOf(":");
  return {
    namespace: key.slice(0, slash),
    imageStream: key.slice(slash + 1, colon),
    tag: key.slice(colon + 1),
    digest: image.digest,
  };
}
