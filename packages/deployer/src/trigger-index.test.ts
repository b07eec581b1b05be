import { parseTriggerAnnotation } from "@kiln/domain";
import { describe, expect, test } from "vitest";
import { TriggerIndex } from "./trigger-index.js";

const triggersOf = (...tags: string[]) =>
  parseTriggerAnnotation(
    {
      "kiln.dev/triggers": JSON.stringify(
        tags.map((tag) => ({
          from: { kind: "ImageStreamTag", name: tag },
          fieldPath: "spec.template.spec.containers[0].image",
        })),
      ),
    },
    { kind: "Deployment", namespace: "apps" },
  )!.triggers;

describe("TriggerIndex", () => {
  test("finds a tag's followers and forgets a workload's old triggers", () => {
    const index = new TriggerIndex();
    index.set({
      key: "Deployment/apps/web",
      kind: "Deployment",
      namespace: "apps",
      name: "web",
      triggers: triggersOf("app:latest", "sidecar:v1"),
    });
    index.set({
      key: "Deployment/apps/api",
      kind: "Deployment",
      namespace: "apps",
      name: "api",
      triggers: triggersOf("app:latest"),
    });
    expect(
      index
        .followers("apps/app:latest")
        .map((w) => w.name)
        .sort(),
    ).toEqual(["api", "web"]);
    index.set({
      key: "Deployment/apps/web",
      kind: "Deployment",
      namespace: "apps",
      name: "web",
      triggers: triggersOf("other:v2"),
    });
    expect(index.followers("apps/app:latest").map((w) => w.name)).toEqual(["api"]);
    expect(index.followers("apps/sidecar:v1")).toEqual([]);
    index.remove("Deployment/apps/api");
    expect(index.followers("apps/app:latest")).toEqual([]);
    expect(index.size).toBe(1);
  });
});
