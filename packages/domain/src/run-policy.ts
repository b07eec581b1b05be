import { assertNever } from "./assert-never.js";
import type { BuildPhase } from "./build-phase.js";
import type { RunPolicy } from "./resources/build-config.js";

/** A build of one BuildConfig that has not ended yet. */
export interface QueuedBuild {
  id: string;
  number: number;
  phase: BuildPhase;
}

export interface DispatchPlan {
  /** Builds to hand to runners now, in order. */
  dispatch: string[];
  /** Queued builds to cancel (SerialLatestOnly supersedes them). */
  cancel: string[];
}

/**
 * What OpenShift's `runPolicy` means for a BuildConfig's unfinished builds:
 * - Parallel: every new build goes at once.
 * - Serial: one at a time, in number order; the next goes when the running one ends.
 * - SerialLatestOnly: one at a time; only the newest queued build survives, the older queued
 *   ones are cancelled. A running build is never cancelled.
 */
export function planDispatch(policy: RunPolicy, builds: readonly QueuedBuild[]): DispatchPlan {
  const waiting = builds.filter((b) => b.phase === "New").sort((a, b) => a.number - b.number);
  const busy = builds.some((b) => b.phase === "Pending" || b.phase === "Running");
  switch (policy) {
    case "Parallel":
      return { dispatch: waiting.map((b) => b.id), cancel: [] };
    case "Serial": {
      const next = waiting[0];
      return { dispatch: !busy && next ? [next.id] : [], cancel: [] };
    }
    case "SerialLatestOnly": {
      const latest = waiting.at(-1);
      return {
        dispatch: !busy && latest ? [latest.id] : [],
        cancel: waiting.slice(0, -1).map((b) => b.id),
      };
    }
    default:
      return assertNever(policy, "run policy");
  }
}
