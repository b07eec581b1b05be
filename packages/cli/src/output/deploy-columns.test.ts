import { describe, expect, it } from "vitest";
import type { Deploy } from "../resources.js";
import { deployLayout } from "./columns.js";

const now = new Date("2025-01-01T12:00:00Z");
const digest = `sha256:${"3f2a9c1b7e44".padEnd(64, "0")}`;

describe("deploy rows", () => {
  it("shows the target, the tag with a short digest, the reason and the cause", () => {
    const deploy: Deploy = {
      metadata: {
        name: "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
        creationTimestamp: "2025-01-01T11:59:30Z",
      },
      spec: {
        target: { type: "Kubernetes", kind: "Deployment", namespace: "apps", name: "web" },
        imageStreamTag: "apps/app:latest",
        digest,
        cause: { type: "Build", build: "app-3" },
      },
      status: {
        phase: "Failed",
        reason: "DeadlineExceeded",
        startTimestamp: "2025-01-01T11:59:31Z",
        completionTimestamp: "2025-01-01T11:59:41Z",
      },
    };
    expect(deployLayout.row(deploy, now)).toEqual([
      "0f1e2d3c",
      "Deployment/apps/web",
      "app:latest@sha256:3f2a9c1b7e44",
      "Failed (DeadlineExceeded)",
      "Build app-3",
      "30 seconds ago",
      "10s",
    ]);
  });

  it("shows an HTTP target's URL and a deploy that never started", () => {
    const deploy: Deploy = {
      metadata: { name: "11112222-3333-4444-5555-666677778888" },
      spec: {
        target: { type: "HTTP", url: "https://hooks.example/kiln" },
        imageStreamTag: "team/site:prod",
        digest,
        cause: { type: "Tag" },
      },
      status: { phase: "Pending" },
    };
    expect(deployLayout.row(deploy, now).slice(0, 5)).toEqual([
      "11112222",
      "https://hooks.example/kiln",
      "site:prod@sha256:3f2a9c1b7e44",
      "Pending",
      "Tag",
    ]);
  });
});
