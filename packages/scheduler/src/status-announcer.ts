import type { Bus, EventInput } from "@kiln/bus";
import { isTerminalPhase, type BuildPhase, type BuildRecord } from "@kiln/domain";
import type { Logger } from "pino";

/**
 * How long an announcement is tried again while NATS cannot take it: a NATS restart, and well
 * inside the 30 s ack wait of the message being handled.
 */
const announceRetryMs = 10_000;

/** Builds whose New's sequence is kept for their Pending; an older one reads the bus instead. */
const maxRemembered = 10_000;

/** The phases the scheduler gives a build before any runner has it. */
export type WaitingPhase = Extract<BuildPhase, "New" | "Pending">;

/**
 * Puts the phase changes the scheduler makes itself on the bus as `build.status-changed`, after
 * the transaction that made them has committed (a rolled-back change is never heard), with the
 * runners' msg id convention `<buildId>:<phase>:<attempt>`, so announcing again is a duplicate.
 * The scheduler's own `scheduler-build-status` consumer hears them too and applies nothing
 * (New and Pending are skipped; an end finds the build there already).
 */
export class BuildStatusAnnouncer {
  /**
   * Where each build's `New` was stored, until its `Pending` is announced: the Pending then
   * expects that sequence without reading the bus first (two JetStream requests fewer a build).
   */
  private readonly announcedNew = new Map<string, number>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /**
   * New (recorded) or Pending (dispatched), as attempt 0: the runners' attempts start at 1.
   * Announced only while nothing newer is stored for the build, checked by the stream itself:
   * the dispatch is published before `Pending` commits, so a runner may have reported already,
   * and its Running or its end must stay the build's newest status, which is what a runner
   * handed the build again reads to number its attempt and to skip a build that has ended.
   */
  async waiting(build: BuildRecord, phase: WaitingPhase, at: Date): Promise<void> {
    const msgId = `${build.id}:${phase}:0`;
    const newAt = phase === "Pending" ? this.announcedNew.get(build.id) : undefined;
    this.announcedNew.delete(build.id);
    if (phase === "New" || newAt !== undefined) {
      // New: only onto nothing (a build just recorded has no status yet); Pending: only onto the
      // New this scheduler stored. Refused, something newer is there (or this is a repeat).
      const seq = await this.bus.publishAfter(
        "build.status-changed",
        build.id,
        event(build, phase, 0, at),
        {
          msgId,
          retryForMs: announceRetryMs,
          lastSubjectSeq: newAt ?? 0,
        },
      );
      if (seq !== null && phase === "New") this.remember(build.id, seq);
      if (seq === null) this.notAnnounced(build, phase);
      return;
    }
    const published = await this.bus.publishIf(
      "build.status-changed",
      build.id,
      event(build, phase, 0, at),
      {
        msgId: `${build.id}:${phase}:0`,
        retryForMs: announceRetryMs,
        expected: (newest) =>
          newest === null ||
          (phase === "Pending" && newest.attempt === 0 && newest.phase === "New"),
      },
    );
    if (!published) this.notAnnounced(build, phase);
  }

  private notAnnounced(build: BuildRecord, phase: WaitingPhase): void {
    this.log.debug(
      { buildId: build.id, build: build.name, phase },
      "build status not announced: the bus holds a newer one",
    );
  }

  /** Bounded: a build queued for long (Serial) may be dispatched after many others were. */
  private remember(buildId: string, seq: number): void {
    if (this.announcedNew.size >= maxRemembered) {
      const oldest = this.announcedNew.keys().next().value;
      if (oldest !== undefined) this.announcedNew.delete(oldest);
    }
    this.announcedNew.set(buildId, seq);
  }

  /**
   * A terminal phase the scheduler applied (a queued build cancelled or failed, a build its
   * runners died on), at the attempt it was applied for. Published whatever the bus holds: the
   * database took it, so it is the build's end, and a runner that reads it skips the build.
   */
  async ended(build: BuildRecord, attempt: number): Promise<void> {
    if (!isTerminalPhase(build.phase))
      throw new Error(`build ${build.id} is ${build.phase}, not ended`);
    await this.bus.publish(
      "build.status-changed",
      build.id,
      {
        ...event(build, build.phase, attempt, build.completedAt ?? new Date()),
        ...(build.reason ? { reason: build.reason } : {}),
        ...(build.message ? { message: build.message } : {}),
      },
      { msgId: `${build.id}:${build.phase}:${attempt}`, retryForMs: announceRetryMs },
    );
  }

  /**
   * Waits for an announcement in a handler that must go on whatever NATS does: the change is
   * committed, only the news of it is lost, and the message being handled may be one whose
   * redelivery changes nothing (a runner's status, an exhausted dispatch). Logged, not thrown.
   */
  async orLog(
    announcement: Promise<unknown>,
    build: BuildRecord,
    phase: BuildPhase,
  ): Promise<void> {
    try {
      await announcement;
    } catch (err) {
      this.log.warn(
        { err, buildId: build.id, build: build.name, phase },
        "build status not published",
      );
    }
  }
}

function event(
  build: BuildRecord,
  phase: BuildPhase,
  attempt: number,
  at: Date,
): EventInput<"build.status-changed"> {
  return {
    v: 1,
    buildId: build.id,
    namespace: build.namespace,
    name: build.name,
    phase,
    attempt,
    at: at.toISOString(),
  };
}
