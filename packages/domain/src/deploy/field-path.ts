import { podSpecPath, type WorkloadKind } from "./workload.js";

/**
 * A trigger's `fieldPath`, in the forms OpenShift's image trigger controller accepts: the image of
 * a container of the pod template, picked by name or by index.
 *
 * - `spec.template.spec.containers[?(@.name=="web")].image` (also `=` and single quotes)
 * - `spec.template.spec.initContainers[?(@.name=="migrate")].image`
 * - `spec.template.spec.containers[0].image`
 * - a CronJob's pod template one level down: `spec.jobTemplate.spec.template.spec.containers[…].image`
 */
export interface ContainerFieldPath {
  /** The fieldPath as written. */
  raw: string;
  list: "containers" | "initContainers";
  /** The container's name, or its index in the list. */
  select: { name: string } | { index: number };
}

const pattern =
  /^(?<prefix>[A-Za-z.]+)\.(?<list>containers|initContainers)(?:\[\?\(@\.name\s*==?\s*(?:"(?<dq>[^"]+)"|'(?<sq>[^']+)')\)\]|\[(?<index>0|[1-9][0-9]*)\])\.image$/;

/**
 * Parses a fieldPath for a workload of `kind`; returns a message saying what is wrong instead when
 * it is not one of the forms above or points outside that kind's pod template.
 */
export function parseFieldPath(
  fieldPath: string,
  kind: WorkloadKind,
): ContainerFieldPath | { error: string } {
  const m = pattern.exec(fieldPath.trim());
  const expected = podSpecPath[kind].join(".");
  if (!m?.groups) {
    return {
      error: `fieldPath ${fieldPath} is not ${expected}.containers[?(@.name=="NAME")].image, …initContainers[…].image or …containers[INDEX].image`,
    };
  }
  const { prefix, list, dq, sq, index } = m.groups;
  if (prefix !== expected) {
    return {
      error: `fieldPath ${fieldPath} does not point into a ${kind}'s pod template (${expected})`,
    };
  }
  const name = dq ?? sq;
  return {
    raw: fieldPath,
    list: list as "containers" | "initContainers",
    select: name !== undefined ? { name } : { index: Number(index) },
  };
}
