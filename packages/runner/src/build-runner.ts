import {
  CredentialsSealError,
  RetryableError,
  unsealCredentials,
  type RegistryCredentials,
  type Bus,
  type BuildDispatchedV2,
  type Consumption,
  type DeliveryContext,
  type EventInput,
} from "@kiln/bus";
import {
  BuildFailure,
  FailureReason,
  isTerminalPhase,
  withSecretEnv,
  type BuildEngine,
  type BuildJob,
  type BuildLogSink,
  type BuildOutputStatus,
  type BuildPhase,
  type BuildRevision,
} from "@kiln/domain";
import { withBasicCredentials, type BasicCredentials } from "@kiln/registry";
import type { StepMetrics } from "@kiln/runtime";
import type { Logger } from "pino";
import { LogPublisher } from "./log-publisher.js";
import { StepTimer } from "./step-timer.js";

export interface BuildRunnerOptions {
  bus: Bus;
  engine: BuildEngine;
  logger: Logger;
  /** Builds run at once by this runner. @default 2 */
  maxConcurrentBuilds?: number;
  /** How often a running build tells JetStream it is still alive. @default 10000 */
  heartbeatMs?: number;
  /** The runners' private sealing key (a JWK) that opens a build's registry credentials. */
  sealingKey: string;
  /**
   * Kiln's registry (`host:port`) and this runner's account there: every build pulls from and
   * pushes to it with these (unless its BuildConfig's Secret names that registry), beside its
   * Secrets for other registries. None: Kiln's registry takes anonymous pushes.
   */
  kilnRegistry?: { registry: string; credentials: BasicCredentials } | undefined;
  /** Where the builds' step durations are observed (only the runner sees the steps). */
  metrics?: StepMetrics;
}

/** How long a build's status is tried again while NATS cannot take it: longer than a NATS restart. */
const statusRetryMs = 60_000;
/** A stopping runner's hand-back status: tried only briefly, the stop has a deadline. */
const handBackRetryMs = 3_000;

/**
 * How long a stopping runner may take beyond its grace: the engine's kill of the builds still
 * running (buildah is told first and SIGKILLed 5 s later), their clean-up and hand-back. The
 * runner's Shutdown grace is BUILD_RUNNER_SHUTDOWN_GRACE_MS plus this.
 */
export const runnerStopAllowanceMs = 8_000;

/** Why a running build was aborted; the abort reason decides the build's final phase. */
class CancelRequested extends Error {
  readonly reason = FailureReason.CancelledBuild;
}
class RunnerStopping extends Error {}

/**
 * Pulls dispatched builds, runs them with the engine, streams their logs and publishes their
 * status. Listens for cancel requests of the builds it runs. On stop, it stops pulling, lets
 * running builds finish within a grace period, then aborts the rest (the engine kills each
 * one's processes and removes its files and containers), marks them Pending again and naks
 * them, so another runner starts them again: nothing is left Running for ever.
 */
export class BuildRunner {
  private readonly running = new Map<string, AbortController>();
  private consumption: Consumption | null = null;
  private cancelListener: { stop(): void } | null = null;
  /** Set once a stop's grace is over: a build that registers after it is aborted at once. */
  private graceOver = false;
  private readonly log: Logger;

  constructor(private readonly options: BuildRunnerOptions) {
    this.log = options.logger.child({ component: "build-runner" });
  }

  get activeBuilds(): number {
    return this.running.size;
  }

  async start(): Promise<void> {
    // Before the first build: what crashed runners left behind goes first.
    await this.options.engine.start?.();
    this.cancelListener = this.options.bus.listen("build.cancel-requested", (event) => {
      const controller = this.running.get(event.buildId);
      if (controller) {
        this.log.info(
          { buildId: event.buildId, build: event.name },
          "cancel requested for a running build",
        );
        controller.abort(new CancelRequested("cancelled by a user"));
      }
    });
    this.consumption = await this.options.bus.consume(
      "build-runner-dispatched",
      (payload, ctx) => this.handle(payload, ctx),
      { maxConcurrent: this.options.maxConcurrentBuilds ?? 2 },
    );
  }

  /**
   * Stops pulling at once (no build is taken from here on), gives the running builds `graceMs`
   * to finish, then stops the rest and hands them back; resolves once every build has ended or
   * been handed back. Whoever waits for it must allow the engine's kill and clean-up beyond
   * the grace (`runnerStopAllowanceMs`).
   */
  async stop(graceMs = 20_000): Promise<void> {
    const consumption = this.consumption;
    this.consumption = null;
    this.log.info(
      { runningBuilds: this.running.size, graceMs },
      "runner stopping: no new builds, running ones may finish within the grace",
    );
    const abortRest = setTimeout(() => {
      this.graceOver = true;
      if (this.running.size > 0)
        this.log.warn(
          { runningBuilds: this.running.size, graceMs },
          "shutdown grace over: stopping the running builds and handing them back",
        );
      for (const controller of this.running.values())
        controller.abort(new RunnerStopping("runner is shutting down"));
    }, graceMs);
    try {
      // Stops pulling first, then waits for the builds in flight.
      await consumption?.stop();
      await this.options.engine.stop?.();
    } finally {
      clearTimeout(abortRest);
      this.cancelListener?.stop();
    }
  }

  private async handle(dispatch: BuildDispatchedV2, ctx: DeliveryContext): Promise<void> {
    const { bus } = this.options;
    const { buildId, name, namespace } = dispatch;
    const log = this.log.child({ buildId, build: name, namespace });
    // A redelivery after the final status was already published must not build twice.
    const last = await bus.lastEvent("build.status-changed", buildId);
    // Which attempt this is: one past the last one that ran (a crashed or stopping runner's),
    // not JetStream's delivery count alone, which does not count a redelivery that first went
    // to a pull nobody listened to any more (a stopped runner's) and so can repeat. Statuses and
    // log lines are deduplicated by attempt: a repeated one would be dropped.
    const attempt = Math.max(ctx.deliveryCount, (last?.attempt ?? 0) + 1);
    const publishStatus = async (
      phase: BuildPhase,
      extra: Partial<EventInput<"build.status-changed">> = {},
      retryForMs = statusRetryMs,
    ) => {
      await bus.publish(
        "build.status-changed",
        buildId,
        { v: 1, buildId, namespace, name, phase, attempt, at: new Date().toISOString(), ...extra },
        // A NATS restart must not fail a build (Running) nor build it again (its end): the
        // heartbeat goes on meanwhile, so the dispatch stays this runner's.
        { msgId: `${buildId}:${phase}:${attempt}`, retryForMs },
      );
    };

    if (last && isTerminalPhase(last.phase)) {
      log.info({ phase: last.phase }, "build already finished, skipping redelivery");
      return;
    }
    if (await bus.lastEvent("build.cancel-requested", buildId)) {
      await publishStatus("Cancelled", {
        reason: FailureReason.CancelledBuild,
        message: "cancelled before it started",
      });
      log.info("build cancelled before it started");
      return;
    }

    const controller = new AbortController();
    this.running.set(buildId, controller);
    // Taken just before a stop whose grace is already over: it is handed back straight away.
    if (this.graceOver) controller.abort(new RunnerStopping("runner is shutting down"));
    const deadlineSeconds = dispatch.spec.completionDeadlineSeconds;
    const deadline = deadlineSeconds
      ? setTimeout(
          () =>
            controller.abort(
              new BuildFailure(
                FailureReason.DeadlineExceeded,
                `build exceeded completionDeadlineSeconds (${deadlineSeconds} s)`,
              ),
            ),
          deadlineSeconds * 1000,
        )
      : null;
    const heartbeat = setInterval(() => ctx.working(), this.options.heartbeatMs ?? 10_000);
    const logs = new LogPublisher({ bus, buildId, attempt });
    const steps = new StepTimer(this.options.metrics);
    let revision: BuildRevision | undefined;
    const sink: BuildLogSink = {
      line: (text) => logs.line(text),
      step: (step) => {
        steps.step(step);
        logs.step(step);
      },
      sourceFetched: (fetched) => (revision = fetched),
    };
    let outcome: { phase: BuildPhase; extra: Partial<EventInput<"build.status-changed">> };
    try {
      await publishStatus("Running");
      log.info({ attempt }, "build started");
      const binary = dispatch.spec.binaryInput;
      const sealed = dispatch.sealedCredentials
        ? await this.openCredentials(buildId, dispatch.sealedCredentials)
        : undefined;
      const output: BuildOutputStatus | null = await this.options.engine.run(
        {
          id: buildId,
          namespace,
          name,
          // The env values read from Secrets exist only here, in memory, for the engine.
          spec: withSecretEnv(dispatch.spec, sealed?.secretEnv),
          credentials: this.credentialsFor(sealed),
          ...(binary ? { openBinaryInput: () => this.openBinaryInput(binary.object) } : {}),
        },
        sink,
        controller.signal,
      );
      outcome = { phase: "Complete", extra: output ? { output } : {} };
    } catch (error) {
      if (error instanceof RunnerStopping) {
        // The engine has killed the build's processes and removed its files by now.
        logs.line(
          `kiln: the build-runner is shutting down: this build (attempt ${attempt}) was stopped and is handed back to run again`,
        );
        await logs.close();
        log.warn({ attempt }, "build stopped by runner shutdown, handing it back");
        // Pending again: what a user sees until another runner starts the next attempt. The nak
        // below hands the dispatch back either way, so a failure here changes only the status.
        await publishStatus(
          "Pending",
          {
            message: `the build-runner stopped during attempt ${attempt}; waiting for a runner to start it again`,
          },
          handBackRetryMs,
        ).catch((err: unknown) => log.warn({ err }, "could not publish the hand-back status"));
        throw new RetryableError("runner stopped during the build", { cause: error });
      }
      outcome = this.failureOutcome(error, log);
      logs.line(`error: ${outcome.extra.message ?? "build failed"}`);
    } finally {
      steps.end();
      clearInterval(heartbeat);
      if (deadline) clearTimeout(deadline);
      this.running.delete(buildId);
    }
    // Every log line is stored before the final status, so a follower that sees the end has seen it all.
    const logFailure = await logs.close();
    if (logFailure) log.warn({ err: logFailure }, "some build log lines could not be stored");
    if (outcome.phase !== "Complete") outcome.extra.logSnippet = logs.snippet();
    if (revision) outcome.extra.revision = revision;
    await publishStatus(outcome.phase, outcome.extra);
    log.info({ phase: outcome.phase, reason: outcome.extra.reason }, "build finished");
    await this.dropBinaryInput(dispatch, log);
  }

  /** The build's registry credentials; ones this runner cannot open fail the build, named. */
  private async openCredentials(buildId: string, sealed: string): Promise<RegistryCredentials> {
    try {
      return await unsealCredentials(this.options.sealingKey, buildId, sealed);
    } catch (error) {
      if (!(error instanceof CredentialsSealError)) throw error;
      throw new BuildFailure(FailureReason.MissingSecret, error.message, { cause: error });
    }
  }

  /**
   * The build's pull and push docker configs: its BuildConfig's Secrets, with this runner's
   * account for Kiln's registry in both. A Secret that names Kiln's registry itself keeps its
   * entry (a team's own robot account there is the narrower one, and the choice was explicit);
   * the runner's account only fills the gap.
   */
  private credentialsFor(theirs: RegistryCredentials | undefined): BuildJob["credentials"] {
    const own = this.options.kilnRegistry;
    if (!own) return theirs && { pull: theirs.pull, push: theirs.push };
    return {
      pull: withBasicCredentials(theirs?.pull, own.registry, own.credentials),
      push: withBasicCredentials(theirs?.push, own.registry, own.credentials),
    };
  }

  /** Streams an uploaded input from the object store; a missing one fails the build, not Kiln. */
  private async *openBinaryInput(object: string): AsyncGenerator<Uint8Array> {
    const content = await this.options.bus.readObject("BUILD_INPUTS", object);
    if (!content)
      throw new BuildFailure(
        FailureReason.InvalidBinaryInput,
        `the uploaded input ${object} is gone (older than the store's TTL?); start the build again`,
      );
    yield* content;
  }

  /**
   * Deletes a binary build's upload once its final status is stored: only then can no runner
   * need it again (a redelivery after a crash reads it anew). Uploads may be hundreds of MiB,
   * so waiting for the 7-day TTL would hold a week of them; the TTL stays as the backstop for
   * builds that never ran. Best effort: a failure here changes nothing about the build.
   */
  private async dropBinaryInput(dispatch: BuildDispatchedV2, log: Logger): Promise<void> {
    const object = dispatch.spec.binaryInput?.object;
    if (!object) return;
    await this.options.bus
      .deleteObject("BUILD_INPUTS", object)
      .catch((err: unknown) => log.warn({ err, object }, "could not delete the binary input"));
  }

  private failureOutcome(
    error: unknown,
    log: Logger,
  ): { phase: BuildPhase; extra: Partial<EventInput<"build.status-changed">> } {
    if (error instanceof CancelRequested) {
      return {
        phase: "Cancelled",
        extra: { reason: FailureReason.CancelledBuild, message: "cancelled by a user" },
      };
    }
    if (error instanceof BuildFailure) {
      return { phase: "Failed", extra: { reason: error.reason, message: error.message } };
    }
    log.error({ err: error }, "build errored inside kiln");
    return {
      phase: "Error",
      extra: {
        reason: FailureReason.InternalError,
        message: error instanceof Error ? error.message : String(error),
      },
    };
  }
}
