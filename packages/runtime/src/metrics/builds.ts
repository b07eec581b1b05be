import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** A build as the scheduler recorded it: only bounded fields, never its name or id. */
export interface BuildSample {
  namespace: string;
  /** `Docker`, `Source`, … (the strategy's type). */
  strategy: string;
  phase: string;
  /** The failure reason's one word; none for a `Complete` build. */
  reason: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

/**
 * What the scheduler counts: it is the one that applies every phase change to the database
 * (through the state machine, so a redelivered or late status changes nothing and is not
 * counted again), so each build is counted once however many services saw it.
 */
export class BuildMetrics {
  private readonly builds: Counter<"namespace" | "strategy" | "phase" | "reason">;
  private readonly duration: Histogram<"strategy" | "phase">;
  private readonly queueWait: Histogram<"strategy">;
  private readonly cascadePending: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.builds = new Counter({
      name: "kiln_builds_total",
      help: "Builds that reached a terminal phase (Complete, Failed, Error, Cancelled), by namespace, strategy, phase and failure reason.",
      labelNames: ["namespace", "strategy", "phase", "reason"],
      registers,
    });
    this.duration = new Histogram({
      name: "kiln_build_duration_seconds",
      help: "From a build's first Running to its terminal phase.",
      labelNames: ["strategy", "phase"],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers,
    });
    this.queueWait = new Histogram({
      name: "kiln_build_queue_wait_seconds",
      help: "From a build's creation (New) to its first Running: run policy, dispatch and a free runner.",
      labelNames: ["strategy"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.cascadePending = new Gauge({
      name: "kiln_scheduler_cascade_pending",
      help: "BuildConfigs the last image-trigger pass found with a changed input but held back until something upstream finishes building.",
      registers,
    });
  }

  /** A build's first Running, as applied (a later attempt's Running is not a new wait). */
  started(build: BuildSample): void {
    if (build.startedAt)
      this.queueWait.observe(
        { strategy: build.strategy },
        seconds(build.createdAt, build.startedAt),
      );
  }

  /** A build's terminal phase, as applied: the state machine lets that happen once a build. */
  ended(build: BuildSample): void {
    this.builds.inc({
      namespace: build.namespace,
      strategy: build.strategy,
      phase: build.phase,
      reason: build.reason ?? "",
    });
    if (build.startedAt && build.completedAt)
      this.duration.observe(
        { strategy: build.strategy, phase: build.phase },
        seconds(build.startedAt, build.completedAt),
      );
  }

  /** After each image-trigger pass: how many BuildConfigs wait for their upstream. */
  cascadeDeferred(count: number): void {
    this.cascadePending.set(count);
  }
}

/**
 * What a build-runner times: the steps its engine marks in the log (`--> FetchSource`), each
 * from its marker to the next one or to the end of the build. Only the runner sees them.
 */
export class StepMetrics {
  private readonly steps: Histogram<"step">;

  constructor(registry: Registry) {
    this.steps = new Histogram({
      name: "kiln_build_step_duration_seconds",
      help: "How long each step of a build ran (FetchSource, PullImages, Build, Assemble, Commit, PostCommit, Push), from its start to the next step or the build's end.",
      labelNames: ["step"],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    });
  }

  stepEnded(step: string, seconds: number): void {
    this.steps.observe({ step }, seconds);
  }
}
