import { canTransition, type CommitStatusReport, type PhaseAtAttempt } from "@kiln/domain";

/**
 * Whether a build's status event is worth a commit status, given what was last recorded for
 * the build: not a duplicate, nor older than what is on the commit (a pending retried after the
 * end), nor the scheduler's Pending after its New once the host took that (both say "waiting
 * for a runner": the commit shows it once per build). A record without a state (a problem, an
 * undelivered report) is tried again at the next phase.
 */
export function isNews(previous: CommitStatusReport | null, at: PhaseAtAttempt): boolean {
  if (!previous) return true;
  if (!canTransition(previous, at)) return false;
  return !(previous.state !== undefined && isQueued(previous) && isQueued(at));
}

/** Recorded or dispatched by the scheduler, before any runner took the build (attempt 0). */
function isQueued(at: PhaseAtAttempt): boolean {
  return (at.phase === "New" || at.phase === "Pending") && at.attempt === 0;
}
