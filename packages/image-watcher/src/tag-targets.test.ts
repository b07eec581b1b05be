import { describe, expect, it } from "vitest";
import { parseImageName } from "@kiln/registry";
import { scheduledTargets, targetsForPush, type ImageStreamLike } from "./tag-targets.js";

const options = { kilnRegistry: "127.0.0.1:15000", insecureRegistries: ["127.0.0.1:15000"] };

describe("parseImageName", () => {
  it("normalises Docker Hub names and keeps registries with ports", () => {
    expect(parseImageName("nginx")).toEqual({ registry: "docker.io", repository: "library/nginx" });
    expect(parseImageName("index.docker.io/library/nginx:1.27")).toEqual({
      registry: "docker.io",
      repository: "library/nginx",
      tag: "1.27",
    });
    expect(parseImageName("127.0.0.1:15000/default/app:latest")).toEqual({
      registry: "127.0.0.1:15000",
      repository: "default/app",
      tag: "latest",
    });
    expect(parseImageName("Not An Image")).toBeNull();
  });
});

describe("targetsForPush", () => {
  const streams: ImageStreamLike[] = [
    {
      namespace: "default",
      name: "nginx",
      spec: { tags: [{ name: "stable", from: { kind: "DockerImage", name: "nginx:1.27" } }] },
    },
    {
      namespace: "other",
      name: "mirror",
      spec: {
        tags: [
          { name: "v1", from: { kind: "DockerImage", name: "127.0.0.1:15000/default/app:v1" } },
        ],
      },
    },
  ];

  it("maps Kiln's own path to its ImageStream tag, and every tag following that image", () => {
    const targets = targetsForPush(
      { registry: "127.0.0.1:15000", repository: "default/app", tag: "v1" },
      streams,
      options,
    );
    expect(targets.map((t) => `${t.namespace}/${t.imageStream}:${t.tag}`)).toEqual([
      "default/app:v1",
      "other/mirror:v1",
    ]);
    expect(targets.every((t) => t.insecure)).toBe(true);
  });

  it("maps a Docker Hub push to the tags that follow it, and to nothing of Kiln's", () => {
    const targets = targetsForPush(
      { registry: "docker.io", repository: "library/nginx", tag: "1.27" },
      streams,
      options,
    );
    expect(targets).toEqual([
      expect.objectContaining({
        namespace: "default",
        imageStream: "nginx",
        tag: "stable",
        insecure: false,
      }),
    ]);
  });

  it("ignores a repository deeper than namespace/name in Kiln's registry", () => {
    expect(
      targetsForPush({ registry: "127.0.0.1:15000", repository: "a/b/c", tag: "v1" }, [], options),
    ).toEqual([]);
  });

  it("schedules only tags with importPolicy.scheduled", () => {
    const scheduled: ImageStreamLike[] = [
      {
        namespace: "default",
        name: "base",
        spec: {
          tags: [
            {
              name: "latest",
              from: { kind: "DockerImage", name: "quay.io/org/base" },
              importPolicy: { scheduled: true },
            },
            { name: "manual", from: { kind: "DockerImage", name: "quay.io/org/base:manual" } },
          ],
        },
      },
    ];
    expect(
      scheduledTargets(scheduled, options).map(
        (t) => `${t.tag} ${t.source.registry}/${t.source.repository}:${t.source.tag}`,
      ),
    ).toEqual(["latest quay.io/org/base:latest"]);
  });
});
