import { assertNever } from "./assert-never.js";

/**
 * Phases of a Build, the same words as OpenShift's `status.phase` so `oc` users read them as-is.
 * New: recorded; Pending: dispatched, waiting for a runner (again, once a stopping runner
 * handed it back); Running: the engine is working; the last four are terminal.
 */
export const BuildPhase = {
  New: "New",
  Pending: "Pending",
  Running: "Running",
  Complete: "Complete",
  Failed: "Failed",
  Error: "Error",
  Cancelled: "Cancelled",
} as const;
export type BuildPhase = (typeof BuildPhase)[keyof typeof BuildPhase];

export const buildPhases = Object.values(BuildPhase) as [BuildPhase, ...BuildPhase[]];

export function isTerminalPhase(phase: BuildPhase): boolean {
  switch (phase) {
    case "New":
    case "Pending":
    case "Running":
      return false;
    case "Complete":
    case "Failed":
    case "Error":
    case "Cancelled":
      return true;
    default:
      return assertNever(phase, "build phase");
  }
}

function rank(phase: BuildPhase): number {
  switch (phase) {
    case "New":
      return 0;
    case "Pending":
      return 1;
    case "Running":
      return 2;
    case "Complete":
    case "Failed":
    case "Error":
    case "Cancelled":
      return 3;
    default:
      return assertNever(phase, "build phase");
  }
}

/** A build's phase and the dispatch attempt it was recorded for (0: no runner reported yet). */
export interface PhaseAtAttempt {
  phase: BuildPhase;
  /** Delivery attempt of the dispatch (1 = the first runner), as on `build.status-changed`. */
  attempt: number;
}

/**
 * Whether a status event moves a build from `from` to `to`. Phases move forward and a terminal
 * phase is final, so a late or redelivered event can never resurrect a finished build. Two
 * moves go sideways or back, ordered by attempt, so events of one build may be applied in any
 * order:
 * - Running → Running: a later attempt started on another runner (a redelivered dispatch); the
 *   same attempt's Running again is a duplicate.
 * - Running → Pending: the runner of that attempt was stopped mid-build and handed the build
 *   back; until a later attempt starts, a late Running of the handed-back one changes nothing.
 */
export function canTransition(from: PhaseAtAttempt, to: PhaseAtAttempt): boolean {
  if (isTerminalPhase(from.phase)) return false;
  if (from.phase === "Running" && to.phase === "Pending") return to.attempt >= from.attempt;
  if (to.phase === "Running" && (from.phase === "Running" || from.phase === "Pending"))
    return to.attempt > from.attempt;
  return rank(to.phase) > rank(from.phase);
}
