import { describe, expect, it } from "vitest";
import { canTransition } from "./build-phase.js";

describe("canTransition", () => {
  it("moves forward through New, Pending, Running to a terminal phase", () => {
    expect(canTransition("New", "Pending")).toBe(true);
    expect(canTransition("Pending", "Running")).toBe(true);
    expect(canTransition("Running", "Complete")).toBe(true);
    expect(canTransition("New", "Cancelled")).toBe(true);
  });
  it("never leaves a terminal phase, so a late event cannot resurrect a build", () => {
    expect(canTransition("Complete", "Running")).toBe(false);
    expect(canTransition("Failed", "Complete")).toBe(false);
    expect(canTransition("Cancelled", "Cancelled")).toBe(false);
  });
  it("never moves backwards", () => {
    expect(canTransition("Running", "Pending")).toBe(false);
    expect(canTransition("Pending", "New")).toBe(false);
  });
  it("lets a redelivered build start running again on another runner", () => {
    expect(canTransition("Running", "Running")).toBe(true);
  });
});
