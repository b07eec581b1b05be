import { describe, expect, it } from "vitest";
import type { Build, BuildConfig, ImageStream } from "../resources.js";
import { describeBuild, describeBuildConfig, describeImageStream } from "./describe.js";

const now = new Date("2025-01-01T12:00:00Z");

const failedBuild: Build = {
  apiVersion: "kiln.dev/v1",
  kind: "Build",
  metadata: {
    name: "hello-3",
    namespace: "default",
    creationTimestamp: "2025-01-01T11:59:00Z",
    labels: { "kiln.dev/buildconfig": "hello" },
  },
  spec: {
    buildConfig: "hello",
    number: 3,
    source: { type: "Git", git: { uri: "https://example.com/hello.git", ref: "main" } },
    strategy: { type: "Docker", dockerStrategy: {} },
    output: { image: "127.0.0.1:15000/default/hello:latest" },
    revision: { commit: "0123456789abcdef" },
    triggeredBy: [{ type: "Manual", message: "Manually triggered" }],
  },
  status: {
    phase: "Failed",
    reason: "FetchSourceFailed",
    message: "git clone failed",
    logSnippet: "cloning...\nfatal: repository not found",
    startTimestamp: "2025-01-01T11:59:30Z",
    completionTimestamp: "2025-01-01T11:59:42Z",
    durationMs: 12_000,
  },
};

describe("describeBuild", () => {
  it("shows a failed build's status, source, output, cause and log tail", () => {
    const out = describeBuild(failedBuild, now);
    expect(out).toMatchInlineSnapshot(`
      "Name:          hello-3
      Namespace:     default
      Created:       2025-01-01T11:59:00Z (1 minute ago)
      Labels:        kiln.dev/buildconfig=hello

      Status:        Failed (FetchSourceFailed)
      Message:       git clone failed
      Started:       2025-01-01T11:59:30Z (30 seconds ago)
      Completed:     2025-01-01T11:59:42Z (18 seconds ago)
      Duration:      12s

      Build Config:  hello
      Strategy:      Docker
      Source:        Git
      URL:           https://example.com/hello.git
      Ref:           main
      Commit:        0123456789abcdef

      Output to:     127.0.0.1:15000/default/hello:latest

      Triggered by:  Manually triggered

      Log Tail:
        cloning...
        fatal: repository not found
      "
    `);
  });

  it("shows the pushed digest and no log tail for a complete build", () => {
    const complete: Build = {
      ...failedBuild,
      status: {
        phase: "Complete",
        logSnippet: "done",
        output: {
          image: "127.0.0.1:15000/default/hello:latest",
          digest: "sha256:abc",
          imageReference: "127.0.0.1:15000/default/hello@sha256:abc",
        },
      },
    };
    const out = describeBuild(complete, now);
    expect(out).toContain("Image Digest:     sha256:abc\n");
    expect(out).toContain("Image Reference:  127.0.0.1:15000/default/hello@sha256:abc\n");
    expect(out).toMatch(/^Status: +Complete$/m);
    expect(out).not.toContain("Log Tail");
  });

  it("prints <none> for what a new build does not have yet", () => {
    const fresh: Build = { metadata: { name: "hello-4" }, status: { phase: "New" } };
    const out = describeBuild(fresh, now);
    expect(out).toMatch(/^Started: +<none>$/m);
    expect(out).toMatch(/^Commit: +<none>$/m);
  });
});

describe("describeBuildConfig", () => {
  it("lists the strategy, source, output, triggers and recent builds", () => {
    const bc: BuildConfig = {
      metadata: { name: "hello", namespace: "default", creationTimestamp: "2025-01-01T10:00:00Z" },
      spec: {
        source: { type: "Git", git: { uri: "https://example.com/hello.git" } },
        strategy: {
          type: "Source",
          sourceStrategy: { from: { kind: "ImageStreamTag", name: "nodejs:20" } },
        },
        output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
        triggers: [{ type: "GitHub" }, { type: "ImageChange", imageChange: {} }],
        runPolicy: "Serial",
      },
      status: { lastVersion: 3 },
    };
    const out = describeBuildConfig(bc, [failedBuild], now);
    expect(out).toMatch(/^Latest Version: +3$/m);
    expect(out).toMatch(/^From Image: +ImageStreamTag nodejs:20$/m);
    expect(out).toMatch(/^Output to: +ImageStreamTag hello:latest$/m);
    expect(out).toContain("GitHub\n");
    expect(out).toMatch(/^Builds:\n {2}NAME +TYPE +FROM +STATUS/m);
    expect(out).toMatch(
      /hello-3 +Docker +Git@0123456 +Failed \(FetchSourceFailed\) +30 seconds ago +12s/,
    );
  });

  it("shows each webhook trigger's URLs, a secretReference one with <secret> and its Secret", () => {
    const bc: BuildConfig = {
      metadata: { name: "hello", namespace: "default" },
      spec: {
        source: { type: "Git", git: { uri: "https://example.com/hello.git" } },
        strategy: { type: "Docker", dockerStrategy: {} },
        triggers: [{ type: "GitHub", github: { secretReference: { name: "hook" } } }],
      },
    };
    const out = describeBuildConfig(bc, [], now, "http://127.0.0.1:8090");
    expect(out).toContain(
      "\nWebhook GitHub:\n  URL:            http://127.0.0.1:8090/hooks/default/hello/github\n",
    );
    expect(out).toContain(
      "  OpenShift URL:  http://127.0.0.1:8090/apis/build.openshift.io/v1/namespaces/default/buildconfigs/hello/webhooks/<secret>/github",
    );
    expect(out).toContain("key WebHookSecretKey of Secret hook");
    expect(describeBuildConfig(bc, [], now)).not.toContain("Webhook GitHub:");
  });
});

describe("describeImageStream", () => {
  it("lists each tag with its current image first", () => {
    const is: ImageStream = {
      metadata: { name: "hello", namespace: "default" },
      status: {
        dockerImageRepository: "127.0.0.1:15000/default/hello",
        tags: [
          {
            tag: "latest",
            items: [
              {
                dockerImageReference: "127.0.0.1:15000/default/hello@sha256:new",
                created: "2025-01-01T11:55:00Z",
              },
              {
                dockerImageReference: "127.0.0.1:15000/default/hello@sha256:old",
                created: "2025-01-01T10:00:00Z",
              },
            ],
          },
        ],
      },
    };
    const out = describeImageStream(is, now);
    expect(out).toContain("Image Repository:  127.0.0.1:15000/default/hello");
    expect(out).toContain(
      "latest\n------\n  * 127.0.0.1:15000/default/hello@sha256:new\n      5 minutes ago\n    127.0.0.1:15000/default/hello@sha256:old",
    );
  });
});
