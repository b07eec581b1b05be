import { z } from "zod";
import { terminalPhases, type Build } from "../resources.js";

/**
 * The part of a `build` event (the bus's build.status-changed payload) that `kiln get builds -w`
 * prints. Phases and reasons are plain strings, not the domain's enums: an older CLI must still
 * print what a newer API sends.
 */
const BuildChange = z.object({
  namespace: z.string(),
  name: z.string(),
  phase: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  at: z.string(),
  output: z
    .object({ image: z.string(), digest: z.string(), imageReference: z.string() })
    .partial()
    .optional(),
  revision: z.object({ commit: z.string().optional() }).optional(),
});
export type BuildChange = z.output<typeof BuildChange>;

/** The change an event's `data:` carries, or null for data that is not one (the stream goes on). */
export function parseBuildChange(data: string): BuildChange | null {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const parsed = BuildChange.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** Before a runner takes a build, it has no start, end or duration (a handed-back one neither). */
const queuedPhases: ReadonlySet<string> = new Set(["New", "Pending"]);

/**
 * The build as it is after `change`: `previous` (what the API or an earlier change said) with the
 * change's phase, reason, message and output. Its times follow the phase, so a watched row reads
 * as `kiln get builds` would read at that moment: a Running build started at the change, an
 * ended one took from its start to the change.
 */
export function applyBuildChange(previous: Build | undefined, change: BuildChange): Build {
  const before = previous?.status;
  const status: NonNullable<Build["status"]> = {
    phase: change.phase,
    reason: change.reason ?? null,
    message: change.message ?? null,
    output: change.output ?? before?.output ?? null,
  };
  if (change.phase === "Running") {
    status.startTimestamp = change.at;
  } else if (terminalPhases.has(change.phase)) {
    const start = queuedPhases.has(before?.phase ?? "") ? null : (before?.startTimestamp ?? null);
    status.startTimestamp = start;
    status.completionTimestamp = change.at;
    if (start) status.durationMs = Math.max(0, Date.parse(change.at) - Date.parse(start));
  } else if (!queuedPhases.has(change.phase)) {
    // A phase this CLI does not know: keep the times it had.
    status.startTimestamp = before?.startTimestamp ?? null;
  }
  const commit = change.revision?.commit ?? previous?.spec?.revision?.commit;
  return {
    ...previous,
    kind: previous?.kind ?? "Build",
    metadata: { ...previous?.metadata, name: change.name, namespace: change.namespace },
    spec: { ...previous?.spec, ...(commit ? { revision: { commit } } : {}) },
    status,
  };
}
