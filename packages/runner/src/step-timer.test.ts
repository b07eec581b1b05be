import { createMetricsRegistry, StepMetrics } from "@kiln/runtime";
import { describe, expect, it } from "vitest";
import { StepTimer } from "./step-timer.js";

describe("StepTimer", () => {
  it("times each step to the next marker and the last to the build's end", async () => {
    const registry = createMetricsRegistry();
    let now = 0;
    const timer = new StepTimer(new StepMetrics(registry), () => now);
    timer.step("FetchSource");
    now = 1_500;
    timer.step("Build");
    now = 11_500;
    timer.step("Push");
    now = 14_000;
    timer.end();
    timer.end();
    const text = await registry.metrics();
    expect(text).toContain('kiln_build_step_duration_seconds_sum{step="FetchSource"} 1.5');
    expect(text).toContain('kiln_build_step_duration_seconds_sum{step="Build"} 10');
    expect(text).toContain('kiln_build_step_duration_seconds_sum{step="Push"} 2.5');
    // A second end() counts nothing more.
    expect(text).toContain('kiln_build_step_duration_seconds_count{step="Push"} 1');
  });
});
