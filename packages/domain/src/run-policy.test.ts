import { describe, expect, it } from "vitest";
import { planDispatch, type QueuedBuild } from "./run-policy.js";

const b = (number: number, phase: QueuedBuild["phase"]): QueuedBuild => ({
  id: `b${number}`,
  number,
  phase,
});

describe("planDispatch", () => {
  it("Parallel sends every new build at once", () => {
    expect(planDispatch("Parallel", [b(1, "Running"), b(2, "New"), b(3, "New")])).toEqual({
      dispatch: ["b2", "b3"],
      cancel: [],
    });
  });
  it("Serial waits while a build runs, then sends the lowest number", () => {
    expect(planDispatch("Serial", [b(1, "Running"), b(3, "New"), b(2, "New")])).toEqual({
      dispatch: [],
      cancel: [],
    });
    expect(planDispatch("Serial", [b(3, "New"), b(2, "New")])).toEqual({
      dispatch: ["b2"],
      cancel: [],
    });
    expect(planDispatch("Serial", [b(1, "Pending"), b(2, "New")])).toEqual({
      dispatch: [],
      cancel: [],
    });
  });
  it("SerialLatestOnly cancels older queued builds but never the running one", () => {
    expect(
      planDispatch("SerialLatestOnly", [b(1, "Running"), b(2, "New"), b(3, "New"), b(4, "New")]),
    ).toEqual({
      dispatch: [],
      cancel: ["b2", "b3"],
    });
    expect(planDispatch("SerialLatestOnly", [b(4, "New")])).toEqual({
      dispatch: ["b4"],
      cancel: [],
    });
  });
});
