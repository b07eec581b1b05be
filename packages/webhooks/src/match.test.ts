import { describe, expect, it } from "vitest";
import { globToRegExp } from "./glob.js";
import { matchEvent, type MatchTarget } from "./match.js";
import type { GitHookEvent, RefChange } from "./push-event.js";

const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const push = (
  ref: string,
  extra: Partial<RefChange> = {},
  defaultBranch?: string,
): GitHookEvent => ({
  kind: "push",
  changes: [{ ref, commit: sha, deleted: false, ...extra }],
  defaultBranch,
});
const target = (ref?: string, extra: Partial<MatchTarget> = {}): MatchTarget => ({
  ref,
  hasGitSource: true,
  includeTags: false,
  ...extra,
});

describe("matchEvent", () => {
  it("builds a push to the BuildConfig's branch, short or full ref", () => {
    expect(matchEvent(push("refs/heads/main"), target("main"))).toMatchObject({
      outcome: "build",
      change: { commit: sha },
    });
    expect(matchEvent(push("refs/heads/main"), target("refs/heads/main")).outcome).toBe("build");
  });
  it("skips a push to another branch, naming both", () => {
    expect(matchEvent(push("refs/heads/dev"), target("main"))).toMatchObject({
      outcome: "skip",
      reason: "RefMismatch",
      message: "refs/heads/dev does not match the BuildConfig's ref main",
    });
  });
  it("matches glob refs: * within a segment, ** across", () => {
    expect(matchEvent(push("refs/heads/release/1.2"), target("release/*")).outcome).toBe("build");
    expect(matchEvent(push("refs/heads/release/1/2"), target("release/*")).outcome).toBe("skip");
    expect(matchEvent(push("refs/heads/release/1/2"), target("release/**")).outcome).toBe("build");
    expect(globToRegExp("v1.?").test("v1.x")).toBe(true);
    expect(globToRegExp("v1.?").test("v1x")).toBe(false);
  });
  it("without a ref, builds the default branch the payload names, else main or master", () => {
    expect(matchEvent(push("refs/heads/trunk", {}, "trunk"), target()).outcome).toBe("build");
    expect(matchEvent(push("refs/heads/main", {}, "trunk"), target()).outcome).toBe("skip");
    expect(matchEvent(push("refs/heads/master"), target()).outcome).toBe("build");
    expect(matchEvent(push("refs/heads/main"), target()).outcome).toBe("build");
    expect(matchEvent(push("refs/heads/dev"), target())).toMatchObject({
      outcome: "skip",
      reason: "RefMismatch",
    });
  });
  it("builds tags only when the trigger asks, or the ref names tags", () => {
    expect(matchEvent(push("refs/tags/v1"), target("main"))).toMatchObject({
      outcome: "skip",
      reason: "TagPush",
    });
    expect(matchEvent(push("refs/tags/v1"), target("main", { includeTags: true })).outcome).toBe(
      "build",
    );
    expect(matchEvent(push("refs/tags/v1"), target("refs/tags/v*")).outcome).toBe("build");
  });
  it("never builds a deletion, a ping or another event", () => {
    expect(
      matchEvent(push("refs/heads/main", { deleted: true, commit: undefined }), target("main")),
    ).toMatchObject({ outcome: "skip", reason: "BranchDeleted" });
    expect(matchEvent({ kind: "ping" }, target("main"))).toMatchObject({
      outcome: "skip",
      reason: "Ping",
    });
    expect(matchEvent({ kind: "ignored", event: "issues" }, target("main"))).toMatchObject({
      outcome: "skip",
      reason: "IgnoredEvent",
    });
  });
  it("builds the first matching ref of a push that moved several", () => {
    const event: GitHookEvent = {
      kind: "push",
      changes: [
        { ref: "refs/heads/dev", commit: "1".repeat(40), deleted: false },
        { ref: "refs/heads/main", commit: "2".repeat(40), deleted: false },
      ],
    };
    expect(matchEvent(event, target("main"))).toMatchObject({
      outcome: "build",
      change: { ref: "refs/heads/main" },
    });
    expect(matchEvent({ kind: "push", changes: [] }, target("main"))).toMatchObject({
      outcome: "skip",
      reason: "NoChanges",
    });
  });
  it("a generic hook without a ref builds the BuildConfig's ref, even without a git source", () => {
    expect(matchEvent(push(""), target("main"), true).outcome).toBe("build");
    expect(matchEvent(push(""), target(undefined, { hasGitSource: false }), true).outcome).toBe(
      "build",
    );
    expect(
      matchEvent(push("refs/heads/main"), target(undefined, { hasGitSource: false })),
    ).toMatchObject({ reason: "NoGitSource" });
  });
});
