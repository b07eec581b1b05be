import { describe, expect, it } from "vitest";
import { canTransition, type BuildPhase } from "./build-phase.js";

const at = (phase: BuildPhase, attempt = 0) => ({ phase, attempt });

describe("canTransition", () => {
  it("moves forward through New, Pending, Running to a terminal phase", () => {
    expect(canTransition(at("New"), at("Pending"))).toBe(true);
    expect(canTransition(at("Pending"), at("Running", 1))).toBe(true);
    expect(canTransition(at("Running", 1), at("Complete", 1))).toBe(true);
    expect(canTransition(at("New"), at("Cancelled"))).toBe(true);
  });
  it("never leaves a terminal phase, so a late event cannot resurrect a build", () => {
    expect(canTransition(at("Complete", 1), at("Running", 2))).toBe(false);
    expect(canTransition(at("Failed", 1), at("Complete", 1))).toBe(false);
    expect(canTransition(at("Cancelled"), at("Cancelled"))).toBe(false);
    expect(canTransition(at("Complete", 1), at("Pending", 1))).toBe(false);
  });
  it("never moves backwards, but for a build handed back", () => {
    expect(canTransition(at("Pending"), at("New"))).toBe(false);
    expect(canTransition(at("Running", 1), at("New", 1))).toBe(false);
  });
  it("lets a redelivered build start running again on another runner, once per attempt", () => {
    expect(canTransition(at("Running", 1), at("Running", 2))).toBe(true);
    expect(canTransition(at("Running", 2), at("Running", 2))).toBe(false);
    expect(canTransition(at("Running", 2), at("Running", 1))).toBe(false);
  });
  it("puts a build its stopping runner handed back to Pending, until another attempt starts it", () => {
    expect(canTransition(at("Running", 1), at("Pending", 1))).toBe(true);
    // The handed-back attempt's own Running, applied late, changes nothing; the next one does.
    expect(canTransition(at("Pending", 1), at("Running", 1))).toBe(false);
    expect(canTransition(at("Pending", 1), at("Running", 2))).toBe(true);
    // A hand-back applied after the next attempt started is stale.
    expect(canTransition(at("Running", 2), at("Pending", 1))).toBe(false);
    // A build handed back can still end: cancelled while it waits, or by a runner of any attempt.
    expect(canTransition(at("Pending", 1), at("Cancelled"))).toBe(true);
    expect(canTransition(at("Pending", 1), at("Complete", 1))).toBe(true);
  });
});
