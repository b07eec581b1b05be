import { FieldPathNotFoundError } from "../errors.js";
import type { ContainerFieldPath } from "./field-path.js";
import { podSpecOf, podSpecPath, workloadKey, type WorkloadObject } from "./workload.js";

/** One container whose image a deploy sets. */
export interface ContainerImageChange {
  list: "containers" | "initContainers";
  container: string;
  /** The image before; undefined when the container had none. */
  from: string | undefined;
  to: string;
}

/**
 * What setting an image on a workload takes. `patch` is a strategic merge patch
 * (`application/strategic-merge-patch+json`), or null when every container already runs it.
 *
 * Why a strategic merge patch, not a JSON patch: it names the container it changes (lists of
 * containers merge by `name`), so it cannot touch another container, and it needs no index that
 * goes stale when someone reorders the containers. It carries the `metadata.resourceVersion` the
 * plan was made from, which makes it conditional: if the workload changed since it was read, the
 * API server answers 409 Conflict and the deployer reads it again and plans again. A JSON patch
 * would need `test` operations on indices, whose failure is a 422 that looks like a bad patch.
 */
export interface ImageUpdatePlan {
  changes: ContainerImageChange[];
  /** Containers that already run the image. */
  unchanged: string[];
  patch: Record<string, unknown> | null;
}

/**
 * Plans setting `imageReference` (`registry/repo@sha256:…`) at each fieldPath of a workload.
 * Throws {@link FieldPathNotFoundError} naming the path when one matches no container.
 */
export function planImageUpdate(
  workload: WorkloadObject,
  fieldPaths: readonly ContainerFieldPath[],
  imageReference: string,
): ImageUpdatePlan {
  const key = workloadKey(workload.kind, workload.metadata.namespace, workload.metadata.name);
  const podSpec = podSpecOf(workload);
  if (!podSpec)
    throw new FieldPathNotFoundError(
      fieldPaths[0]?.raw ?? "",
      key,
      `it has no ${podSpecPath[workload.kind].join(".")}`,
    );
  const changes: ContainerImageChange[] = [];
  const unchanged: string[] = [];
  const seen = new Set<string>();
  for (const fieldPath of fieldPaths) {
    const list = podSpec[fieldPath.list] ?? [];
    const container =
      "name" in fieldPath.select
        ? list.find((c) => c.name === (fieldPath.select as { name: string }).name)
        : list[fieldPath.select.index];
    if (!container?.name) {
      const names = list.map((c) => c.name).join(", ");
      throw new FieldPathNotFoundError(
        fieldPath.raw,
        key,
        names ? `its ${fieldPath.list} are ${names}` : `it has no ${fieldPath.list}`,
      );
    }
    const id = `${fieldPath.list}/${container.name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (container.image === imageReference) unchanged.push(container.name);
    else
      changes.push({
        list: fieldPath.list,
        container: container.name,
        from: container.image,
        to: imageReference,
      });
  }
  if (changes.length === 0) return { changes, unchanged, patch: null };

  const lists: Record<string, { name: string; image: string }[]> = {};
  for (const change of changes)
    (lists[change.list] ??= []).push({ name: change.container, image: change.to });
  // Build `spec.template.spec` (or a CronJob's deeper path) from the inside out.
  let node: Record<string, unknown> = lists;
  for (const key of [...podSpecPath[workload.kind]].reverse()) node = { [key]: node };
  const patch = workload.metadata.resourceVersion
    ? { metadata: { resourceVersion: workload.metadata.resourceVersion }, ...node }
    : node;
  return { changes, unchanged, patch };
}
