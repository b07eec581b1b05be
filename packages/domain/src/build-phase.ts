import { assertNever } from "./assert-never.js";

/**
 * Phases of a Build, the same words as OpenShift's `status.phase` so `oc` users read them as-is.
 * New: recorded; Pending: handed to a runner; Running: the engine is working;
 * the last four are terminal.
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

/**
 * Whether a build in `from` may move to `to`. Phases only move forward and a terminal phase
 * is final, so a late or redelivered status event can never resurrect a finished build.
 * Running → Running is allowed: a redelivered dispatch restarts the work on another runner.
 */
export function canTransition(from: BuildPhase, to: BuildPhase): boolean {
  if (isTerminalPhase(from)) return false;
  if (from === "Running" && to === "Running") return true;
  return rank(to) > rank(from);
}
