import type { V1ContainerStatus, V1Job, V1Pod } from "@kubernetes/client-node";
import { BuildFailure } from "@kiln/domain";
import { describe, expect, it } from "vitest";
import { failureOf, jobOutcome, podNotStartingReason, stepReportOf } from "./pod-status.js";
import { encodeStepReport } from "./termination.js";

const failedJob = (reason: string, message = ""): V1Job => ({
  spec: { activeDeadlineSeconds: 30, template: {} },
  status: { conditions: [{ type: "Failed", status: "True", reason, message }] },
});
const terminated = (
  name: string,
  exitCode: number,
  extra: { reason?: string; message?: string } = {},
): V1ContainerStatus => ({
  name,
  image: "kiln",
  imageID: "",
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, ...extra } },
});
const pod = (
  init: V1ContainerStatus[],
  main: V1ContainerStatus[] = [],
  extra: Partial<V1Pod["status"]> = {},
): V1Pod => ({
  spec: {
    containers: [{ name: "build", resources: { limits: { memory: "1Gi" } } }],
    initContainers: [{ name: "fetch" }],
  },
  status: { initContainerStatuses: init, containerStatuses: main, ...extra },
});

function reasonOf(f: BuildFailure) {
  return { reason: f.reason, message: f.message };
}

describe("jobOutcome", () => {
  it("reads Complete and Failed from the Job's conditions", () => {
    expect(jobOutcome({ status: {} })).toBe("Running");
    expect(jobOutcome({ status: { conditions: [{ type: "Complete", status: "True" }] } })).toBe(
      "Complete",
    );
    expect(jobOutcome({ status: { conditions: [{ type: "Failed", status: "True" }] } })).toBe(
      "Failed",
    );
    expect(
      jobOutcome({ status: { conditions: [{ type: "FailureTarget", status: "True" }] } }),
    ).toBe("Failed");
    expect(jobOutcome({ status: { conditions: [{ type: "Failed", status: "False" }] } })).toBe(
      "Running",
    );
  });
});

describe("failureOf", () => {
  it("makes a Job past its deadline DeadlineExceeded, whatever its pod says", () => {
    const f = failureOf(
      failedJob("DeadlineExceeded", "Job was active longer than specified deadline"),
      pod([terminated("fetch", 0)], [terminated("build", 137)]),
    );
    expect(reasonOf(f)).toEqual({
      reason: "DeadlineExceeded",
      message: "build exceeded completionDeadlineSeconds (30 s)",
    });
  });

  it("takes a step's own report: the local engine's reason and message", () => {
    const report = encodeStepReport({
      v: 1,
      step: "build",
      failure: { reason: "DockerBuildFailed", message: "the Dockerfile build failed (exit 1)" },
    });
    const f = failureOf(
      failedJob("BackoffLimitExceeded"),
      pod([terminated("fetch", 0)], [terminated("build", 1, { message: report })]),
    );
    expect(reasonOf(f)).toEqual({
      reason: "DockerBuildFailed",
      message: "the Dockerfile build failed (exit 1)",
    });
    const fetchReport = encodeStepReport({
      v: 1,
      step: "fetch",
      failure: { reason: "FetchSourceFailed", message: "git clone of x failed (exit 128)" },
    });
    expect(
      failureOf(
        failedJob("BackoffLimitExceeded"),
        pod([terminated("fetch", 1, { message: fetchReport })]),
      ).reason,
    ).toBe("FetchSourceFailed");
  });

  it("names an out-of-memory kill and the limit to raise", () => {
    const f = failureOf(
      failedJob("BackoffLimitExceeded"),
      pod([terminated("fetch", 0)], [terminated("build", 137, { reason: "OOMKilled" })]),
    );
    expect(reasonOf(f)).toEqual({
      reason: "OutOfMemoryKilled",
      message:
        "the build container ran out of memory (limit 1Gi): raise spec.resources.limits.memory",
    });
  });

  it("reports an eviction and a vanished pod as BuildPodEvicted", () => {
    expect(
      failureOf(
        failedJob("BackoffLimitExceeded"),
        pod([], [], { reason: "Evicted", message: "low on ephemeral-storage" }),
      ).reason,
    ).toBe("BuildPodEvicted");
    expect(
      failureOf(
        failedJob("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        undefined,
      ).reason,
    ).toBe("BuildPodEvicted");
  });

  it("says which container died without a report", () => {
    const f = failureOf(
      failedJob("BackoffLimitExceeded"),
      pod([terminated("fetch", 0)], [terminated("build", 139, { reason: "Error" })]),
    );
    expect(reasonOf(f)).toEqual({
      reason: "InternalError",
      message: "the build container exited with code 139 (Error) without saying why",
    });
  });
});

describe("podNotStartingReason", () => {
  it("explains a pod no node takes and an image that cannot be pulled", () => {
    expect(
      podNotStartingReason({
        status: {
          conditions: [
            {
              type: "PodScheduled",
              status: "False",
              reason: "Unschedulable",
              message: "0/3 nodes match nodeSelector",
            },
          ],
        },
      }),
    ).toBe("the build pod cannot be scheduled: 0/3 nodes match nodeSelector");
    const waiting: V1ContainerStatus = {
      name: "fetch",
      image: "kiln",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { waiting: { reason: "ImagePullBackOff", message: "not found" } },
    };
    expect(podNotStartingReason(pod([waiting]))).toBe(
      "the fetch container cannot start: ImagePullBackOff: not found",
    );
    const initializing = { ...waiting, state: { waiting: { reason: "PodInitializing" } } };
    expect(podNotStartingReason(pod([initializing]))).toBeNull();
    expect(podNotStartingReason(undefined)).toBeNull();
  });
});

describe("stepReportOf", () => {
  it("reads a terminated container's report, and nothing from a running one", () => {
    const revision = { commit: "c".repeat(40), author: "a", date: "d", message: "m" };
    expect(
      stepReportOf(
        pod([
          terminated("fetch", 0, { message: encodeStepReport({ v: 1, step: "fetch", revision }) }),
        ]),
        "fetch",
      ),
    ).toEqual({ v: 1, step: "fetch", revision });
    expect(
      stepReportOf(pod([{ ...terminated("fetch", 0), state: { running: {} } }]), "fetch"),
    ).toBeNull();
  });
});
