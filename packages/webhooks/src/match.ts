import { assertNever } from "@kiln/domain";
import { globToRegExp } from "./glob.js";
import type { GitHookEvent, RefChange } from "./push-event.js";

/** Why a verified delivery builds nothing; stored as the delivery's `reason`. */
export const SkipReason = {
  Ping: "Ping",
  IgnoredEvent: "IgnoredEvent",
  BranchDeleted: "BranchDeleted",
  RefMismatch: "RefMismatch",
  TagPush: "TagPush",
  NoChanges: "NoChanges",
  NoGitSource: "NoGitSource",
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface MatchTarget {
  /** `spec.source.git.ref`: a branch (`main`), a full ref, or a glob (`release/*`); absent = the default branch. */
  ref?: string | undefined;
  /** Whether the BuildConfig has a git source at all. */
  hasGitSource: boolean;
  /** The trigger's Kiln-extension `includeTags`. */
  includeTags: boolean;
}

export type MatchResult =
  | { outcome: "build"; change: RefChange }
  | { outcome: "skip"; reason: SkipReason; message: string; change?: RefChange | undefined };

/** Branches accepted for a BuildConfig without a ref when the payload does not name the default branch. */
export const fallbackDefaultBranches = ["main", "master"] as const;

/**
 * Decides whether a verified delivery starts a build, and of which ref and commit. A push that
 * moved several refs (Bitbucket) builds the first one that matches. Pure.
 */
export function matchEvent(event: GitHookEvent, target: MatchTarget, generic = false): MatchResult {
  switch (event.kind) {
    case "ping":
      return {
        outcome: "skip",
        reason: SkipReason.Ping,
        message: "ping: the webhook reaches Kiln and its secret matches",
      };
    case "ignored":
      return {
        outcome: "skip",
        reason: SkipReason.IgnoredEvent,
        message: `event ${event.event} does not start builds (only pushes do)`,
      };
    case "push": {
      if (!target.hasGitSource && !generic) {
        return {
          outcome: "skip",
          reason: SkipReason.NoGitSource,
          message: "the BuildConfig has no git source",
        };
      }
      let first: MatchResult | undefined;
      for (const change of event.changes) {
        const result = matchChange(change, target, event.defaultBranch);
        if (result.outcome === "build") return result;
        first ??= result;
      }
      return (
        first ?? { outcome: "skip", reason: SkipReason.NoChanges, message: "the push moved no ref" }
      );
    }
    default:
      return assertNever(event);
  }
}

function matchChange(
  change: RefChange,
  target: MatchTarget,
  defaultBranch: string | undefined,
): MatchResult {
  // A generic hook without a ref builds the BuildConfig's own ref.
  if (change.ref === "") return { outcome: "build", change };
  if (change.deleted)
    return {
      outcome: "skip",
      reason: SkipReason.BranchDeleted,
      message: `${change.ref} was deleted`,
      change,
    };
  const wanted = target.ref;
  if (change.ref.startsWith("refs/tags/")) {
    if (wanted?.startsWith("refs/tags/") && globToRegExp(wanted).test(change.ref))
      return { outcome: "build", change };
    if (target.includeTags) return { outcome: "build", change };
    return {
      outcome: "skip",
      reason: SkipReason.TagPush,
      message: `${change.ref} is a tag; set includeTags on the trigger to build tags`,
      change,
    };
  }
  if (wanted === undefined) {
    const branches = defaultBranch ? [defaultBranch] : fallbackDefaultBranches;
    if (branches.some((b) => change.ref === `refs/heads/${b}`)) return { outcome: "build", change };
    return {
      outcome: "skip",
      reason: SkipReason.RefMismatch,
      message: `${change.ref} is not the default branch (${branches.join(" or ")}); the BuildConfig names no ref`,
      change,
    };
  }
  const pattern = wanted.startsWith("refs/") ? wanted : `refs/heads/${wanted}`;
  if (globToRegExp(pattern).test(change.ref)) return { outcome: "build", change };
  return {
    outcome: "skip",
    reason: SkipReason.RefMismatch,
    message: `${change.ref} does not match the BuildConfig's ref ${wanted}`,
    change,
  };
}
