import type { SupervisedProcessStatus, SupervisorStatus } from "@kiln/infra";
import { renderTable } from "./table.js";
import { formatDuration, relativeTime } from "./time.js";

/**
 * `kiln status`: a line about `kiln up` itself, then one row per process in start order with
 * its pid, uptime, restarts and how it last ended by itself.
 */
export function formatSupervisorStatus(
  status: SupervisorStatus,
  options: { running: boolean; stateDir: string; now: Date },
): string {
  const { running, stateDir, now } = options;
  const headline = running
    ? `kiln up is running under ${stateDir} (pid ${status.pid}, up ${formatDuration(now.getTime() - status.startedAt)})`
    : status.stoppedAt !== null
      ? `kiln up is not running under ${stateDir}: it stopped ${relativeTime(new Date(status.stoppedAt), now)}`
      : `kiln up is not running under ${stateDir}: pid ${status.pid} ended without stopping what it ran (was it killed?); what it last wrote:`;
  const rows = status.processes.map((p) => [
    p.name,
    p.state,
    p.pid === null ? "" : String(p.pid),
    p.startedAt === null || p.pid === null ? "" : formatDuration(now.getTime() - p.startedAt),
    String(p.restarts),
    lastExit(p, now),
  ]);
  return `${headline}\n${renderTable(["name", "state", "pid", "uptime", "restarts", "last exit"], rows)}`;
}

function lastExit(p: SupervisedProcessStatus, now: Date): string {
  if (p.lastExit === null) return "";
  const how =
    p.lastExit.signal === null ? `code ${p.lastExit.code}` : `signal ${p.lastExit.signal}`;
  return `${how}, ${relativeTime(new Date(p.lastExit.at), now)}`;
}
