import { FailureReason, type BuildOutputStatus, type BuildRevision } from "@kiln/domain";
import { z } from "zod";

/**
 * What a build step reports to the engine through its container's termination message
 * (`/dev/termination-log`, read back from `status.containerStatuses[].state.terminated.message`).
 * The kubelet keeps at most 4096 bytes of it, so messages are cut to fit.
 */
export const StepName = { Fetch: "fetch", Build: "build" } as const;
export type StepName = (typeof StepName)[keyof typeof StepName];

/** The two containers of a build pod; their names are the steps they run. */
export const ContainerName = { Fetch: "fetch", Build: "build" } as const;
export type ContainerName = (typeof ContainerName)[keyof typeof ContainerName];

export type StepReport =
  | { v: 1; step: "fetch"; revision: BuildRevision | null }
  | { v: 1; step: "build"; output: BuildOutputStatus | null }
  | { v: 1; step: StepName; failure: { reason: FailureReason; message: string } };

const revision = z.object({
  commit: z.string(),
  ref: z.string().optional(),
  author: z.string(),
  date: z.string(),
  message: z.string(),
});
const output = z.object({
  image: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  imageReference: z.string(),
  size: z.number().int().nonnegative().optional(),
});
const failure = z.object({
  reason: z.enum(Object.values(FailureReason) as [FailureReason, ...FailureReason[]]),
  message: z.string(),
});
const StepReportSchema = z.union([
  z.strictObject({ v: z.literal(1), step: z.literal("fetch"), revision: revision.nullable() }),
  z.strictObject({ v: z.literal(1), step: z.literal("build"), output: output.nullable() }),
  z.strictObject({ v: z.literal(1), step: z.enum(["fetch", "build"]), failure }),
]);

/** The kubelet's limit on a termination message. */
export const terminationMessageLimit = 4096;

/**
 * Encodes a report so that it fits a termination message: a failure's message (the only part
 * of unbounded length) is cut first; a commit message is cut too, which is only informative.
 */
export function encodeStepReport(report: StepReport): string {
  let text = JSON.stringify(report);
  if (Buffer.byteLength(text) <= terminationMessageLimit) return text;
  const cut = (s: string, over: number) => `${s.slice(0, Math.max(0, s.length - over - 1))}…`;
  const over = Buffer.byteLength(text) - terminationMessageLimit + 16;
  if ("failure" in report)
    text = JSON.stringify({
      ...report,
      failure: { ...report.failure, message: cut(report.failure.message, over) },
    });
  else if (report.step === "fetch" && report.revision)
    text = JSON.stringify({
      ...report,
      revision: { ...report.revision, message: cut(report.revision.message, over) },
    });
  return text;
}

/** Reads a step's report; null when the message is absent or not one (a container that died before writing it). */
export function parseStepReport(message: string | undefined | null): StepReport | null {
  if (!message) return null;
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return null;
  }
  const parsed = StepReportSchema.safeParse(json);
  if (!parsed.success) return null;
  return parsed.data as StepReport;
}
