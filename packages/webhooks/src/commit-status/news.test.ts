import type { BuildPhase, CommitStatusReport } from "@kiln/domain";
import { describe, expect, test } from "vitest";
import { isNews } from "./news.js";

const reported = (phase: BuildPhase, attempt: number, state?: string): CommitStatusReport => ({
  provider: "github",
  context: "kiln/team/app",
  commit: "0123456789abcdef0123456789abcdef01234567",
  phase,
  attempt,
  ...(state === undefined ? {} : { state }),
});

describe("which build status goes to the commit", () => {
  test("the first status of a build, New included, is reported", () => {
    expect(isNews(null, { phase: "New", attempt: 0 })).toBe(true);
    expect(isNews(null, { phase: "Pending", attempt: 0 })).toBe(true);
  });

  test("the scheduler's Pending after its reported New is not reported again, nor New after Pending", () => {
    expect(isNews(reported("New", 0, "pending"), { phase: "Pending", attempt: 0 })).toBe(false);
    expect(isNews(reported("Pending", 0, "pending"), { phase: "New", attempt: 0 })).toBe(false);
  });

  test("a Pending after a New the host never took is tried again", () => {
    const problem = {
      ...reported("New", 0),
      problem: { reason: "StatusUndelivered", message: "x" },
    };
    expect(isNews(problem, { phase: "Pending", attempt: 0 })).toBe(true);
  });

  test("Running after the queued pending, a hand-back's Pending after Running, and the end are reported", () => {
    expect(isNews(reported("Pending", 0, "pending"), { phase: "Running", attempt: 1 })).toBe(true);
    expect(isNews(reported("Running", 1, "pending"), { phase: "Pending", attempt: 1 })).toBe(true);
    expect(isNews(reported("New", 0, "pending"), { phase: "Cancelled", attempt: 0 })).toBe(true);
  });

  test("a duplicate, or a status older than the one on the commit, is not reported", () => {
    expect(isNews(reported("Running", 1, "pending"), { phase: "Running", attempt: 1 })).toBe(false);
    expect(isNews(reported("Complete", 1, "success"), { phase: "Pending", attempt: 0 })).toBe(
      false,
    );
    expect(isNews(reported("Running", 1, "pending"), { phase: "New", attempt: 0 })).toBe(false);
  });
});
