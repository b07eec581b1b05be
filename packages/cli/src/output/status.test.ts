import { describe, expect, it } from "vitest";
import type { SupervisorStatus } from "@kiln/infra";
import { formatSupervisorStatus } from "./status.js";

const now = new Date("2025-01-01T12:00:00Z");
const ago = (ms: number) => now.getTime() - ms;

const status: SupervisorStatus = {
  pid: 4100,
  startedAt: ago(3_725_000),
  updatedAt: ago(1_000),
  stoppedAt: null,
  processes: [
    {
      name: "nats",
      state: "running",
      pid: 4101,
      startedAt: ago(3_720_000),
      restarts: 0,
      lastExit: null,
      logFile: "/s/logs/nats.log",
    },
    {
      name: "build-runner",
      state: "running",
      pid: 4250,
      startedAt: ago(12_000),
      restarts: 2,
      lastExit: { code: null, signal: "SIGKILL", at: ago(14_000) },
      logFile: "/s/logs/build-runner.log",
    },
    {
      name: "scheduler",
      state: "restarting",
      pid: null,
      startedAt: null,
      restarts: 1,
      lastExit: { code: 1, signal: null, at: ago(300) },
      logFile: "/s/logs/scheduler.log",
    },
  ],
};

describe("formatSupervisorStatus", () => {
  it("lists every process with its pid, uptime, restarts and last exit", () => {
    expect(formatSupervisorStatus(status, { running: true, stateDir: "/s", now })).toBe(
      [
        "kiln up is running under /s (pid 4100, up 1h2m)",
        "NAME           STATE        PID    UPTIME   RESTARTS   LAST EXIT",
        "nats           running      4101   1h2m     0",
        "build-runner   running      4250   12s      2          signal SIGKILL, 14 seconds ago",
        "scheduler      restarting                   1          code 1, just now",
        "",
      ].join("\n"),
    );
  });

  it("says when kiln up stopped, or that it ended without stopping its processes", () => {
    const stopped = { ...status, stoppedAt: ago(120_000) };
    expect(formatSupervisorStatus(stopped, { running: false, stateDir: "/s", now })).toMatch(
      /^kiln up is not running under \/s: it stopped 2 minutes ago\n/,
    );
    expect(formatSupervisorStatus(status, { running: false, stateDir: "/s", now })).toMatch(
      /^kiln up is not running under \/s: pid 4100 ended without stopping what it ran/,
    );
  });
});
