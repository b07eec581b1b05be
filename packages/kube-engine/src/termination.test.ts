import { describe, expect, it } from "vitest";
import { encodeStepReport, parseStepReport, terminationMessageLimit } from "./termination.js";

const digest = `sha256:${"ab".repeat(32)}`;

describe("step reports", () => {
  it("round-trips a revision, an output and a failure", () => {
    const revision = {
      commit: "c".repeat(40),
      ref: "main",
      author: "A <a@example.test>",
      date: "2025-01-01T00:00:00Z",
      message: "hello",
    };
    expect(parseStepReport(encodeStepReport({ v: 1, step: "fetch", revision }))).toEqual({
      v: 1,
      step: "fetch",
      revision,
    });
    expect(parseStepReport(encodeStepReport({ v: 1, step: "fetch", revision: null }))).toEqual({
      v: 1,
      step: "fetch",
      revision: null,
    });
    const output = { image: "r/x:latest", digest, imageReference: `r/x@${digest}`, size: 1234 };
    expect(parseStepReport(encodeStepReport({ v: 1, step: "build", output }))).toEqual({
      v: 1,
      step: "build",
      output,
    });
    const failure = {
      reason: "DockerBuildFailed" as const,
      message: "the Dockerfile build failed (exit 1)",
    };
    expect(parseStepReport(encodeStepReport({ v: 1, step: "build", failure }))).toEqual({
      v: 1,
      step: "build",
      failure,
    });
  });

  it("cuts a long failure message to fit the kubelet's 4096 bytes, keeping the reason", () => {
    const text = encodeStepReport({
      v: 1,
      step: "build",
      failure: { reason: "PushFailed", message: "é".repeat(5000) },
    });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(terminationMessageLimit);
    const report = parseStepReport(text);
    expect(report && "failure" in report && report.failure.reason).toBe("PushFailed");
  });

  it("reads nothing from a missing, garbled or foreign message", () => {
    for (const bad of [
      undefined,
      null,
      "",
      "not json",
      "{}",
      '{"v":2,"step":"build","output":null}',
      '{"v":1,"step":"build","output":{"digest":"nope"}}',
      '{"v":1,"step":"build","failure":{"reason":"Whatever","message":""}}',
    ]) {
      expect(parseStepReport(bad)).toBeNull();
    }
  });
});
