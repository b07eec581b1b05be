import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BuildSpec } from "@kiln/domain";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runBuildStep } from "./build-step.js";
import { StepEnv } from "./job-manifest.js";
import { parseStepReport } from "./termination.js";

const spec: BuildSpec = {
  buildConfig: "inline",
  number: 1,
  source: { dockerfile: "FROM scratch\n" },
  strategy: { type: "Docker" },
  output: { image: null, imageLabels: [] },
  revision: {},
  env: [],
  triggeredBy: [{ type: "Manual", message: "test" }],
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-step-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kiln-build-step", () => {
  it("fetch: prints the step marker, leaves the source and the revision in the work dir, and reports the revision", async () => {
    const lines: string[] = [];
    const code = await runBuildStep({
      step: "fetch",
      env: {
        [StepEnv.Build]: JSON.stringify({ id: "b1", namespace: "default", name: "inline-1", spec }),
        [StepEnv.WorkDir]: dir,
        [StepEnv.TerminationLog]: join(dir, "termination-log"),
      },
      writeLine: (l) => lines.push(l),
      signal: new AbortController().signal,
    });
    expect(code).toBe(0);
    expect(lines).toEqual(["--> FetchSource"]);
    expect(JSON.parse(await readFile(join(dir, "revision.json"), "utf8"))).toBeNull();
    expect(parseStepReport(await readFile(join(dir, "termination-log"), "utf8"))).toEqual({
      v: 1,
      step: "fetch",
      revision: null,
    });
  });

  it("reports a bad environment as an InternalError naming the variable, and exits 1", async () => {
    const code = await runBuildStep({
      step: "build",
      env: { [StepEnv.Build]: "{not json", [StepEnv.TerminationLog]: join(dir, "termination-log") },
      writeLine: () => undefined,
      signal: new AbortController().signal,
    });
    expect(code).toBe(1);
    const report = parseStepReport(await readFile(join(dir, "termination-log"), "utf8"));
    expect(report).toMatchObject({ step: "build", failure: { reason: "InternalError" } });
    expect(report && "failure" in report && report.failure.message).toContain(StepEnv.Build);
  });

  it("reports a missing mounted credential as MissingSecret", async () => {
    const code = await runBuildStep({
      step: "build",
      env: {
        [StepEnv.Build]: JSON.stringify({ id: "b1", namespace: "default", name: "inline-1", spec }),
        [StepEnv.WorkDir]: dir,
        [StepEnv.StorageDir]: join(dir, "storage"),
        [StepEnv.PushAuthFile]: join(dir, "no-such", ".dockerconfigjson"),
        [StepEnv.TerminationLog]: join(dir, "termination-log"),
      },
      writeLine: () => undefined,
      signal: new AbortController().signal,
    });
    expect(code).toBe(1);
    expect(parseStepReport(await readFile(join(dir, "termination-log"), "utf8"))).toMatchObject({
      step: "build",
      failure: { reason: "MissingSecret" },
    });
  });
});
