import { describe, expect, it } from "vitest";
import type { Build } from "../resources.js";
import { buildConfigLayout, buildLayout, imageStreamLayout, secretLayout } from "./columns.js";

const now = new Date("2025-01-01T12:00:00Z");

describe("table rows", () => {
  it("shows a build's short commit, failure reason, start and duration", () => {
    const build: Build = {
      metadata: { name: "hello-2" },
      spec: {
        source: { type: "Git" },
        strategy: { type: "Source" },
        revision: { commit: "abcdef0123" },
      },
      status: {
        phase: "Failed",
        reason: "AssembleFailed",
        startTimestamp: "2025-01-01T11:59:55Z",
        durationMs: 83_000,
      },
    };
    expect(buildLayout.row(build, now)).toEqual([
      "hello-2",
      "Source",
      "Git@abcdef0",
      "Failed (AssembleFailed)",
      "5 seconds ago",
      "1m23s",
    ]);
  });

  it("derives types when the spec leaves them out", () => {
    expect(
      buildConfigLayout.row(
        {
          metadata: { name: "x" },
          spec: { source: { git: { uri: "u", ref: "main" } }, strategy: { dockerStrategy: {} } },
        },
        now,
      ),
    ).toEqual(["x", "Docker", "Git@main", "0"]);
    expect(
      buildConfigLayout.row(
        {
          metadata: { name: "y" },
          spec: { source: { type: "Binary" } },
          status: { lastVersion: 4 },
        },
        now,
      ),
    ).toEqual(["y", "", "Binary", "4"]);
  });

  it("summarises many image stream tags and shows the newest update", () => {
    const row = imageStreamLayout.row(
      {
        metadata: { name: "app" },
        status: {
          dockerImageRepository: "r/ns/app",
          tags: ["a", "b", "c", "d", "e"].map((tag, i) => ({
            tag,
            items: [{ created: `2025-01-01T11:5${i}:00Z` }],
          })),
        },
      },
      now,
    );
    expect(row).toEqual(["app", "r/ns/app", "a,b,c + 2 more...", "6 minutes ago"]);
  });

  it("shows what a Secret is for: a docker config's registries, an Opaque Secret's keys", () => {
    const created = { creationTimestamp: "2025-01-01T11:00:00Z" };
    expect(secretLayout.headers).toEqual(["NAME", "TYPE", "DATA", "AGE"]);
    expect(
      secretLayout.row(
        {
          metadata: { name: "regcred", ...created },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": "(redacted)" },
          registries: ["quay.io", "ghcr.io"],
        },
        now,
      ),
    ).toEqual(["regcred", "kubernetes.io/dockerconfigjson", "quay.io,ghcr.io", "1 hour ago"]);
    expect(
      secretLayout.row(
        {
          metadata: { name: "hook", ...created },
          type: "Opaque",
          data: { WebHookSecretKey: "(redacted)", other: "(redacted)" },
        },
        now,
      ),
    ).toEqual(["hook", "Opaque", "WebHookSecretKey,other", "1 hour ago"]);
  });
});
