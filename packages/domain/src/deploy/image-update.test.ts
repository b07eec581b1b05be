import { describe, expect, test } from "vitest";
import { FieldPathNotFoundError } from "../errors.js";
import { parseFieldPath, type ContainerFieldPath } from "./field-path.js";
import { planImageUpdate } from "./image-update.js";
import type { WorkloadKind, WorkloadObject } from "./workload.js";

const ref = "registry.local/apps/app@sha256:" + "a".repeat(64);

function path(fieldPath: string, kind: WorkloadKind = "Deployment"): ContainerFieldPath {
  const parsed = parseFieldPath(fieldPath, kind);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
}

function deployment(
  containers: { name: string; image?: string }[],
  initContainers?: { name: string; image?: string }[],
): WorkloadObject {
  return {
    kind: "Deployment",
    metadata: { namespace: "apps", name: "web", resourceVersion: "1042" },
    spec: { template: { spec: { containers, ...(initContainers ? { initContainers } : {}) } } },
  };
}

describe("planning an image update", () => {
  test("patches the named container by strategic merge, conditional on the resourceVersion read", () => {
    const plan = planImageUpdate(
      deployment([
        { name: "proxy", image: "envoy:1" },
        { name: "web", image: "app:latest" },
      ]),
      [path('spec.template.spec.containers[?(@.name=="web")].image')],
      ref,
    );
    expect(plan.changes).toEqual([
      { list: "containers", container: "web", from: "app:latest", to: ref },
    ]);
    expect(plan.patch).toEqual({
      metadata: { resourceVersion: "1042" },
      spec: { template: { spec: { containers: [{ name: "web", image: ref }] } } },
    });
  });

  test("resolves an index to the container's name, and sets init containers too", () => {
    const plan = planImageUpdate(
      deployment(
        [
          { name: "proxy", image: "envoy:1" },
          { name: "web", image: "app:1" },
        ],
        [{ name: "migrate", image: "app:1" }],
      ),
      [
        path("spec.template.spec.containers[1].image"),
        path('spec.template.spec.initContainers[?(@.name=="migrate")].image'),
      ],
      ref,
    );
    expect(plan.patch).toEqual({
      metadata: { resourceVersion: "1042" },
      spec: {
        template: {
          spec: {
            containers: [{ name: "web", image: ref }],
            initContainers: [{ name: "migrate", image: ref }],
          },
        },
      },
    });
  });

  test("patches a CronJob's job template", () => {
    const cron: WorkloadObject = {
      kind: "CronJob",
      metadata: { namespace: "apps", name: "nightly" },
      spec: {
        schedule: "0 3 * * *",
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: "job", image: "app:1" }] } } },
        },
      },
    };
    const plan = planImageUpdate(
      cron,
      [path('spec.jobTemplate.spec.template.spec.containers[?(@.name=="job")].image', "CronJob")],
      ref,
    );
    expect(plan.patch).toEqual({
      spec: {
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: "job", image: ref }] } } },
        },
      },
    });
  });

  test("makes no patch when the container already runs the reference", () => {
    const plan = planImageUpdate(
      deployment([{ name: "web", image: ref }]),
      [path('spec.template.spec.containers[?(@.name=="web")].image')],
      ref,
    );
    expect(plan).toEqual({ changes: [], unchanged: ["web"], patch: null });
  });

  test("names the fieldPath that matches no container", () => {
    const fieldPath = 'spec.template.spec.containers[?(@.name=="api")].image';
    const plan = () =>
      planImageUpdate(deployment([{ name: "web" }, { name: "proxy" }]), [path(fieldPath)], ref);
    expect(plan).toThrow(FieldPathNotFoundError);
    expect(plan).toThrow(
      `fieldPath ${fieldPath} matches no container of Deployment/apps/web: its containers are web, proxy`,
    );
    expect(() =>
      planImageUpdate(
        deployment([{ name: "web" }]),
        [path("spec.template.spec.containers[3].image")],
        ref,
      ),
    ).toThrow(/containers\[3\]\.image matches no container/);
    expect(() =>
      planImageUpdate(
        deployment([{ name: "web" }]),
        [path('spec.template.spec.initContainers[?(@.name=="x")].image')],
        ref,
      ),
    ).toThrow(/it has no initContainers/);
  });
});
