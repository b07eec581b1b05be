import { useRef, useState } from "preact/hooks";
import { nsPath } from "./api.js";
import { useEvents, useResource } from "./hooks.js";

const rank = { New: 0, Pending: 1, Running: 2, Complete: 3, Failed: 3, Error: 3, Cancelled: 3 };

/**
 * A namespace's builds (of one BuildConfig if given), newest first, kept live: an event's phase
 * is shown at once, and the list is read again. The runner's event can reach the page before
 * the scheduler has stored it, so a read never moves a build's phase back.
 */
export function useBuilds(ns, buildConfig) {
  const query = buildConfig ? `?buildConfig=${encodeURIComponent(buildConfig)}` : "";
  const resource = useResource(nsPath(ns, `/builds${query}`), {
    ns,
    refreshOn: (type) => type === "build",
  });
  const live = useRef(new Map());
  const [, setTick] = useState(0);
  useEvents(ns, (type, event) => {
    if (type !== "build") return;
    live.current.set(event.name, event);
    setTick((t) => t + 1);
  });
  const items = (resource.data?.items ?? []).map((build) => withLivePhase(build, live.current));
  items.sort(
    (a, b) =>
      b.metadata.creationTimestamp.localeCompare(a.metadata.creationTimestamp) ||
      number(b) - number(a),
  );
  return { ...resource, items };
}

export function withLivePhase(build, live) {
  const event = live.get(build.metadata.name);
  if (!event || (rank[event.phase] ?? 0) <= (rank[build.status.phase] ?? 0)) return build;
  return {
    ...build,
    status: {
      ...build.status,
      phase: event.phase,
      ...(event.reason ? { reason: event.reason } : {}),
      ...(event.output ? { output: event.output } : {}),
    },
  };
}

const number = (build) => Number(/-(\d+)$/.exec(build.metadata.name)?.[1] ?? 0);

const buildConfigOf = (build) => build.metadata.labels?.["kiln.dev/buildconfig"];

/** The newest build of each BuildConfig. */
export function lastBuilds(builds) {
  const last = new Map();
  for (const build of builds) {
    const bc = buildConfigOf(build);
    const seen = last.get(bc);
    if (!seen || number(build) > number(seen)) last.set(bc, build);
  }
  return last;
}

export const isTerminal = (phase) => (rank[phase] ?? 0) === 3;
