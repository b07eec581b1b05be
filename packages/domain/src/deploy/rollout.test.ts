import { describe, expect, test } from "vitest";
import { rolloutState } from "./rollout.js";
import type { WorkloadKind, WorkloadObject } from "./workload.js";

const workload = (
  kind: WorkloadKind,
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
): WorkloadObject => ({
  kind,
  metadata: { namespace: "apps", name: "web", generation: 3 },
  spec,
  status,
});

describe("following a rollout", () => {
  test("a Deployment completes once the controller observed the generation and every replica is updated and available", () => {
    expect(
      rolloutState(
        workload(
          "Deployment",
          { replicas: 3 },
          { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
        ),
        3,
      ).phase,
    ).toBe("Rolling");
    expect(
      rolloutState(
        workload(
          "Deployment",
          { replicas: 3 },
          { observedGeneration: 3, replicas: 4, updatedReplicas: 3, availableReplicas: 3 },
        ),
        3,
      ),
    ).toEqual({
      phase: "Rolling",
      message: "1 old replicas are pending termination",
    });
    expect(
      rolloutState(
        workload(
          "Deployment",
          { replicas: 3 },
          { observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 1 },
        ),
        3,
      ).phase,
    ).toBe("Rolling");
    expect(
      rolloutState(
        workload(
          "Deployment",
          { replicas: 3 },
          { observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
        ),
        3,
      ).phase,
    ).toBe("Complete");
  });

  test("a Deployment past its progress deadline fails", () => {
    const state = rolloutState(
      workload(
        "Deployment",
        { replicas: 1 },
        {
          observedGeneration: 3,
          replicas: 1,
          updatedReplicas: 1,
          conditions: [
            {
              type: "Progressing",
              status: "False",
              reason: "ProgressDeadlineExceeded",
              message: 'ReplicaSet "web-1" has timed out progressing.',
            },
          ],
        },
      ),
      3,
    );
    expect(state).toEqual({
      phase: "Failed",
      reason: "ProgressDeadlineExceeded",
      message: 'ReplicaSet "web-1" has timed out progressing.',
    });
  });

  test("a StatefulSet completes when ready at the update revision, or above its partition", () => {
    expect(
      rolloutState(
        workload(
          "StatefulSet",
          { replicas: 2 },
          {
            observedGeneration: 3,
            readyReplicas: 2,
            currentRevision: "web-1",
            updateRevision: "web-2",
          },
        ),
        3,
      ).phase,
    ).toBe("Rolling");
    expect(
      rolloutState(
        workload(
          "StatefulSet",
          { replicas: 2 },
          {
            observedGeneration: 3,
            readyReplicas: 2,
            currentRevision: "web-2",
            updateRevision: "web-2",
          },
        ),
        3,
      ).phase,
    ).toBe("Complete");
    expect(
      rolloutState(
        workload(
          "StatefulSet",
          {
            replicas: 4,
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } },
          },
          { observedGeneration: 3, readyReplicas: 4, updatedReplicas: 2 },
        ),
        3,
      ).phase,
    ).toBe("Complete");
    expect(
      rolloutState(workload("StatefulSet", { updateStrategy: { type: "OnDelete" } }, {}), 3).phase,
    ).toBe("Complete");
  });

  test("a DaemonSet completes when every scheduled pod is updated and available", () => {
    expect(
      rolloutState(
        workload(
          "DaemonSet",
          {},
          {
            observedGeneration: 3,
            desiredNumberScheduled: 2,
            updatedNumberScheduled: 2,
            numberAvailable: 1,
          },
        ),
        3,
      ).phase,
    ).toBe("Rolling");
    expect(
      rolloutState(
        workload(
          "DaemonSet",
          {},
          {
            observedGeneration: 3,
            desiredNumberScheduled: 2,
            updatedNumberScheduled: 2,
            numberAvailable: 2,
          },
        ),
        3,
      ).phase,
    ).toBe("Complete");
  });

  test("a CronJob is complete once patched", () => {
    expect(rolloutState(workload("CronJob", {}, {}), 3).phase).toBe("Complete");
  });
});
