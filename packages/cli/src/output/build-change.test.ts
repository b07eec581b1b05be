import { describe, expect, it } from "vitest";
import type { Build } from "../resources.js";
import { applyBuildChange, parseBuildChange, type BuildChange } from "./build-change.js";
import { buildLayout } from "./columns.js";

const now = new Date("2025-01-01T12:00:00Z");

/** What `kiln get builds` showed for the build before it ran. */
const listed: Build = {
  kind: "Build",
  metadata: { name: "hello-3", namespace: "default" },
  spec: {
    buildConfig: "hello",
    number: 3,
    source: { type: "Git" },
    strategy: { type: "Docker" },
  },
  status: { phase: "New" },
};

const change = (phase: string, at: string, extra: Partial<BuildChange> = {}): BuildChange => ({
  namespace: "default",
  name: "hello-3",
  phase,
  at,
  ...extra,
});

/** The row each change prints, applied in order as `kiln get builds -w` applies them. */
function rows(start: Build | undefined, changes: BuildChange[]): string[][] {
  let build = start;
  return changes.map((c) => {
    build = applyBuildChange(build, c);
    return buildLayout.row(build, now);
  });
}

describe("a watched build's rows", () => {
  it("reads New, Pending, Running, Complete as the table would at each moment", () => {
    expect(
      rows(listed, [
        change("Pending", "2025-01-01T11:59:00Z"),
        change("Running", "2025-01-01T11:59:10Z", {
          revision: { commit: "abcdef0123456789" },
        }),
        change("Complete", "2025-01-01T11:59:52Z", {
          output: { image: "r/default/hello:latest", digest: "sha256:1", imageReference: "r@1" },
        }),
      ]),
    ).toEqual([
      ["hello-3", "Docker", "Git", "Pending", "", ""],
      ["hello-3", "Docker", "Git@abcdef0", "Running", "50 seconds ago", ""],
      ["hello-3", "Docker", "Git@abcdef0", "Complete", "50 seconds ago", "42s"],
    ]);
  });

  it("shows a failure's reason, and no start for a build cancelled before it ran", () => {
    expect(
      rows(listed, [
        change("Running", "2025-01-01T11:59:00Z"),
        change("Failed", "2025-01-01T11:59:30Z", { reason: "AssembleFailed", message: "exit 2" }),
      ])[1],
    ).toEqual(["hello-3", "Docker", "Git", "Failed (AssembleFailed)", "1 minute ago", "30s"]);
    expect(rows(listed, [change("Cancelled", "2025-01-01T11:59:00Z")])[0]).toEqual([
      "hello-3",
      "Docker",
      "Git",
      "Cancelled",
      "",
      "",
    ]);
  });

  it("forgets the first attempt's start when a build is handed back to Pending", () => {
    const [, pending, running] = rows(listed, [
      change("Running", "2025-01-01T11:50:00Z"),
      change("Pending", "2025-01-01T11:55:00Z", { message: "the build-runner stopped" }),
      change("Running", "2025-01-01T11:59:00Z"),
    ]);
    expect(pending).toEqual(["hello-3", "Docker", "Git", "Pending", "", ""]);
    expect(running?.[4]).toBe("1 minute ago");
  });

  it("overrides what a later read of the build said with the change's own phase", () => {
    // Read after the event was sent: the API already says Running, the event says New.
    const readLate: Build = {
      ...listed,
      status: { phase: "Running", startTimestamp: "2025-01-01T11:59:00Z" },
    };
    expect(rows(readLate, [change("New", "2025-01-01T11:58:59Z")])[0]).toEqual([
      "hello-3",
      "Docker",
      "Git",
      "New",
      "",
      "",
    ]);
  });

  it("makes a row of a build known only from its event", () => {
    const build = applyBuildChange(undefined, change("New", "2025-01-01T11:59:00Z"));
    expect(build.kind).toBe("Build");
    expect(build.metadata).toEqual({ name: "hello-3", namespace: "default" });
    expect(buildLayout.row(build, now)).toEqual(["hello-3", "", "", "New", "", ""]);
  });
});

describe("parseBuildChange", () => {
  it("reads the bus's payload and keeps a phase or reason this CLI does not know", () => {
    const data = JSON.stringify({
      v: 1,
      buildId: "b1",
      namespace: "default",
      name: "hello-3",
      phase: "Paused",
      attempt: 1,
      reason: "SomethingNew",
      at: "2025-01-01T11:59:00Z",
    });
    expect(parseBuildChange(data)).toEqual({
      namespace: "default",
      name: "hello-3",
      phase: "Paused",
      reason: "SomethingNew",
      at: "2025-01-01T11:59:00Z",
    });
  });

  it("gives null for what is not a build change", () => {
    expect(parseBuildChange("not json")).toBeNull();
    expect(parseBuildChange(JSON.stringify({ name: "x" }))).toBeNull();
  });
});
