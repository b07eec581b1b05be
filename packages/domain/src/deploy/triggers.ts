import { z } from "zod";
import { TriggerAnnotationError, type FieldIssue } from "../errors.js";
import { imageStreamTagKey } from "../image-triggers.js";
import { namespacePattern, resourceNamePattern } from "../names.js";
import { parseFieldPath, type ContainerFieldPath } from "./field-path.js";
import type { WorkloadKind } from "./workload.js";

/**
 * The annotations that make a workload follow ImageStream tags. Kiln's own wins when both are
 * set; OpenShift's is honoured as-is, so a workload annotated for OpenShift (`oc set triggers`)
 * follows Kiln's ImageStreams unchanged.
 */
export const TriggerAnnotation = {
  Kiln: "kiln.dev/triggers",
  OpenShift: "image.openshift.io/triggers",
} as const;
export type TriggerAnnotation = (typeof TriggerAnnotation)[keyof typeof TriggerAnnotation];

const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** "required" when missing, else what it should be. */
const expected = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? "required" : `must be ${what}`;

/**
 * One entry of the annotation's JSON: OpenShift's `ObjectFieldTrigger`
 * (`{"from": {"kind": "ImageStreamTag", "name": "app:latest", "namespace": "ns"}, "fieldPath": "…", "paused": false}`).
 * Unknown fields are ignored, as OpenShift does.
 */
const ObjectFieldTrigger = z.object(
  {
    from: z.object(
      {
        kind: z.literal("ImageStreamTag", { error: 'must be "ImageStreamTag"' }),
        name: z.string({ error: expected("IMAGESTREAM:TAG") }).refine((s) => {
          const [is, tag, ...rest] = s.split(":");
          return (
            rest.length === 0 &&
            is !== undefined &&
            resourceNamePattern.test(is) &&
            tag !== undefined &&
            tagPattern.test(tag)
          );
        }, "must be IMAGESTREAM:TAG"),
        namespace: z.string().regex(namespacePattern, "must be a namespace name").optional(),
        apiVersion: z.string().optional(),
      },
      { error: expected("an object") },
    ),
    fieldPath: z.string({ error: expected("a string") }).min(1, "required"),
    paused: z.boolean({ error: "must be true or false" }).optional(),
  },
  { error: expected("a trigger object") },
);
const TriggerList = z.array(ObjectFieldTrigger, { error: "must be a JSON list of triggers" });

/** A trigger of a workload, resolved: the ImageStream tag it follows and the container it sets. */
export interface WorkloadTrigger {
  /** `namespace/imagestream:tag`: the key image changes are matched on. */
  tagKey: string;
  imageStreamTag: { namespace: string; name: string; tag: string };
  fieldPath: ContainerFieldPath;
  paused: boolean;
}

export interface ParsedTriggers {
  /** Which annotation the triggers came from. */
  annotation: TriggerAnnotation;
  /** Its raw value (to tell a changed annotation from an unchanged one). */
  value: string;
  triggers: WorkloadTrigger[];
}

/**
 * The triggers a workload's annotations declare: null when it has neither annotation. Throws
 * {@link TriggerAnnotationError} naming each wrong field when the annotation is not valid JSON,
 * not the trigger shape, or has a fieldPath that is not a container image of that kind.
 * `from.namespace` defaults to the workload's namespace, as in OpenShift.
 */
export function parseTriggerAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
  workload: { kind: WorkloadKind; namespace: string },
): ParsedTriggers | null {
  const annotation =
    annotations?.[TriggerAnnotation.Kiln] !== undefined
      ? TriggerAnnotation.Kiln
      : annotations?.[TriggerAnnotation.OpenShift] !== undefined
        ? TriggerAnnotation.OpenShift
        : undefined;
  if (annotation === undefined) return null;
  const value = annotations![annotation]!;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    throw new TriggerAnnotationError(annotation, [
      { path: "", message: `not JSON (${error instanceof Error ? error.message : String(error)})` },
    ]);
  }
  const parsed = TriggerList.safeParse(json);
  if (!parsed.success) {
    throw new TriggerAnnotationError(
      annotation,
      parsed.error.issues.map((issue) => ({
        path: issue.path
          .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
          .join("")
          .replace(/^\./, ""),
        message: issue.message,
      })),
    );
  }
  const issues: FieldIssue[] = [];
  const triggers: WorkloadTrigger[] = [];
  for (const [i, t] of parsed.data.entries()) {
    const fieldPath = parseFieldPath(t.fieldPath, workload.kind);
    if ("error" in fieldPath) {
      issues.push({ path: `[${i}].fieldPath`, message: fieldPath.error });
      continue;
    }
    const [name, tag] = t.from.name.split(":") as [string, string];
    const namespace = t.from.namespace ?? workload.namespace;
    triggers.push({
      tagKey: imageStreamTagKey(namespace, `${name}:${tag}`),
      imageStreamTag: { namespace, name, tag },
      fieldPath,
      paused: t.paused ?? false,
    });
  }
  if (issues.length > 0) throw new TriggerAnnotationError(annotation, issues);
  return { annotation, value, triggers };
}
