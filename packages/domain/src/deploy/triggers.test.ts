import { describe, expect, test } from "vitest";
import { TriggerAnnotationError } from "../errors.js";
import { parseFieldPath } from "./field-path.js";
import { parseTriggerAnnotation, TriggerAnnotation } from "./triggers.js";

const web = 'spec.template.spec.containers[?(@.name=="web")].image';
const deployment = { kind: "Deployment", namespace: "apps" } as const;

function issuesOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TriggerAnnotationError) return error.message;
    throw error;
  }
  throw new Error("expected a TriggerAnnotationError");
}

describe("trigger annotations", () => {
  test("reads OpenShift's image.openshift.io/triggers JSON, defaulting from.namespace to the workload's", () => {
    const value = JSON.stringify([
      { from: { kind: "ImageStreamTag", name: "app:latest" }, fieldPath: web },
    ]);
    const parsed = parseTriggerAnnotation({ [TriggerAnnotation.OpenShift]: value }, deployment);
    expect(parsed).toEqual({
      annotation: "image.openshift.io/triggers",
      value,
      triggers: [
        {
          tagKey: "apps/app:latest",
          imageStreamTag: { namespace: "apps", name: "app", tag: "latest" },
          fieldPath: { raw: web, list: "containers", select: { name: "web" } },
          paused: false,
        },
      ],
    });
  });

  test("prefers kiln.dev/triggers over OpenShift's, and keeps paused and a namespace", () => {
    const kiln = JSON.stringify([
      {
        from: { kind: "ImageStreamTag", name: "app:v2", namespace: "team" },
        fieldPath: web,
        paused: true,
      },
    ]);
    const parsed = parseTriggerAnnotation(
      { [TriggerAnnotation.Kiln]: kiln, [TriggerAnnotation.OpenShift]: "not json" },
      deployment,
    );
    expect(parsed?.annotation).toBe("kiln.dev/triggers");
    expect(parsed?.triggers[0]).toMatchObject({ tagKey: "team/app:v2", paused: true });
  });

  test("is null for a workload without either annotation", () => {
    expect(parseTriggerAnnotation({ other: "x" }, deployment)).toBeNull();
    expect(parseTriggerAnnotation(undefined, deployment)).toBeNull();
  });

  test("names what is wrong in a malformed annotation", () => {
    expect(
      issuesOf(() => parseTriggerAnnotation({ "kiln.dev/triggers": "[{" }, deployment)),
    ).toMatch(/^annotation kiln.dev\/triggers: not JSON/);
    expect(issuesOf(() => parseTriggerAnnotation({ "kiln.dev/triggers": "{}" }, deployment))).toBe(
      "annotation kiln.dev/triggers: must be a JSON list of triggers",
    );
    const message = issuesOf(() =>
      parseTriggerAnnotation(
        {
          "kiln.dev/triggers": JSON.stringify([
            { from: { kind: "DockerImage", name: "app" } },
            { from: { kind: "ImageStreamTag", name: "app:latest" }, fieldPath: web, paused: "yes" },
          ]),
        },
        deployment,
      ),
    );
    expect(message).toContain('[0].from.kind: must be "ImageStreamTag"');
    expect(message).toContain("[0].from.name: must be IMAGESTREAM:TAG");
    expect(message).toContain("[0].fieldPath: required");
    expect(message).toContain("[1].paused: must be true or false");
  });

  test("refuses a fieldPath that is not a container image of that kind", () => {
    const cronPath = 'spec.jobTemplate.spec.template.spec.containers[?(@.name=="web")].image';
    const value = JSON.stringify([
      { from: { kind: "ImageStreamTag", name: "app:latest" }, fieldPath: cronPath },
    ]);
    expect(
      issuesOf(() => parseTriggerAnnotation({ "kiln.dev/triggers": value }, deployment)),
    ).toContain(
      `[0].fieldPath: fieldPath ${cronPath} does not point into a Deployment's pod template (spec.template.spec)`,
    );
    expect(
      parseTriggerAnnotation({ "kiln.dev/triggers": value }, { kind: "CronJob", namespace: "apps" })
        ?.triggers[0]?.fieldPath.select,
    ).toEqual({ name: "web" });
  });
});

describe("fieldPath forms", () => {
  test.each([
    [
      'spec.template.spec.containers[?(@.name=="web")].image',
      { list: "containers", select: { name: "web" } },
    ],
    [
      "spec.template.spec.containers[?(@.name='web')].image",
      { list: "containers", select: { name: "web" } },
    ],
    [
      'spec.template.spec.containers[?(@.name="web")].image',
      { list: "containers", select: { name: "web" } },
    ],
    [
      'spec.template.spec.initContainers[?(@.name=="migrate")].image',
      { list: "initContainers", select: { name: "migrate" } },
    ],
    ["spec.template.spec.containers[0].image", { list: "containers", select: { index: 0 } }],
    [
      "spec.template.spec.initContainers[12].image",
      { list: "initContainers", select: { index: 12 } },
    ],
  ])("reads %s", (fieldPath, expected) => {
    expect(parseFieldPath(fieldPath, "StatefulSet")).toEqual({ raw: fieldPath, ...expected });
  });

  test.each([
    "spec.template.spec.containers.image",
    "spec.template.spec.containers[?(@.name==web)].image",
    "spec.template.spec.containers[01].image",
    "spec.template.spec.containers[0].env",
    "metadata.name",
  ])("refuses %s", (fieldPath) => {
    expect(parseFieldPath(fieldPath, "Deployment")).toHaveProperty("error");
  });
});
