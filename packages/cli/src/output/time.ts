/**
 * Human time, as `oc get builds` prints it: "5 seconds ago", "about a minute" is avoided in
 * favour of exact units so scripts that scrape the table see a stable shape.
 */
export function relativeTime(from: Date | string | null | undefined, now: Date): string {
  if (from === null || from === undefined || from === "") return "";
  const then = typeof from === "string" ? new Date(from) : from;
  if (Number.isNaN(then.getTime())) return "";
  const seconds = Math.floor((now.getTime() - then.getTime()) / 1000);
  // Clock skew between the API host and this one can make a fresh timestamp look future.
  if (seconds < 1) return "just now";
  const [value, unit] = largestUnit(seconds);
  return `${value} ${unit}${value === 1 ? "" : "s"} ago`;
}

function largestUnit(seconds: number): [number, string] {
  if (seconds < 60) return [seconds, "second"];
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return [minutes, "minute"];
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return [hours, "hour"];
  const days = Math.floor(hours / 24);
  if (days < 30) return [days, "day"];
  const months = Math.floor(days / 30);
  if (months < 12) return [months, "month"];
  return [Math.floor(days / 365), "year"];
}

/** `850ms`, `42s`, `1m23s`, `2h5m`: the same compact form as oc's DURATION column. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
