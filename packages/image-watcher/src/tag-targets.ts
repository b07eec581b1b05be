import { namespacePattern, resourceNamePattern, type ImageStreamSpec } from "@kiln/domain";
import { normaliseRegistry, parseImageName, type ImageName } from "@kiln/registry";
import type { PushHint } from "./notifications/push-hint.js";

/** An ImageStream as the matcher needs it (a row of `image_streams`). */
export interface ImageStreamLike {
  namespace: string;
  name: string;
  spec: ImageStreamSpec;
}

/** One ImageStream tag, and the registry tag whose digest it follows. */
export interface TagTarget {
  namespace: string;
  imageStream: string;
  tag: string;
  /** Where to resolve the digest: `registry/repository:tag`. */
  source: ImageName & { tag: string };
  /** Reach the registry over plain HTTP (`importPolicy.insecure`, or a listed insecure registry). */
  insecure: boolean;
}

export interface TargetOptions {
  /** Kiln's registry (`KILN_REGISTRY`): `<ns>/<is>:<tag>` there is ImageStream `is`, tag `tag`. */
  kilnRegistry: string;
  /** Registries reached over plain HTTP (`KILN_INSECURE_REGISTRIES`). */
  insecureRegistries: readonly string[];
}

const tagPattern = /^[\w][\w.-]{0,127}$/;

/**
 * The ImageStream tags a pushed registry tag moves: Kiln's own path `<ns>/<is>:<tag>` in Kiln's
 * registry (the ImageStream need not exist yet), and every tag whose `from` is that
 * `DockerImage`. Pure; the order is stable and each tag appears once.
 */
export function targetsForPush(
  hint: PushHint,
  streams: readonly ImageStreamLike[],
  options: TargetOptions,
): TagTarget[] {
  const registry = normaliseRegistry(hint.registry ?? options.kilnRegistry);
  const pushed = parseImageName(`${registry}/${hint.repository}:${hint.tag}`);
  if (!pushed || pushed.tag === undefined) return [];
  const targets = new Map<string, TagTarget>();
  const insecure = (host: string) =>
    options.insecureRegistries.some((r) => normaliseRegistry(r) === host);
  const own = kilnPath(pushed, options.kilnRegistry);
  if (own)
    targets.set(`${own.namespace}/${own.imageStream}:${own.tag}`, {
      ...own,
      source: { ...pushed, tag: pushed.tag },
      insecure: insecure(pushed.registry),
    });
  for (const target of followingTags(streams, options)) {
    if (
      target.source.registry === pushed.registry &&
      target.source.repository === pushed.repository &&
      target.source.tag === pushed.tag
    ) {
      targets.set(`${target.namespace}/${target.imageStream}:${target.tag}`, target);
    }
  }
  return [...targets.values()];
}

/** Tags with `importPolicy.scheduled: true`: polled because their registry may never notify. */
export function scheduledTargets(
  streams: readonly ImageStreamLike[],
  options: TargetOptions,
): TagTarget[] {
  const scheduled = new Set<string>();
  for (const s of streams)
    for (const t of s.spec.tags ?? [])
      if (t.importPolicy?.scheduled) scheduled.add(`${s.namespace}/${s.name}:${t.name}`);
  const targets: TagTarget[] = [];
  for (const target of followingTags(streams, options)) {
    if (scheduled.has(`${target.namespace}/${target.imageStream}:${target.tag}`))
      targets.push(target);
  }
  // A scheduled tag without `from` follows its own path in Kiln's registry.
  for (const s of streams) {
    for (const t of s.spec.tags ?? []) {
      if (!t.importPolicy?.scheduled || t.from) continue;
      const source = parseImageName(`${options.kilnRegistry}/${s.namespace}/${s.name}:${t.name}`);
      if (source?.tag !== undefined) {
        targets.push({
          namespace: s.namespace,
          imageStream: s.name,
          tag: t.name,
          source: { ...source, tag: source.tag },
          insecure: true,
        });
      }
    }
  }
  return targets;
}

/** Every spec tag whose `from` is a DockerImage, with the image it follows. */
function followingTags(streams: readonly ImageStreamLike[], options: TargetOptions): TagTarget[] {
  const targets: TagTarget[] = [];
  for (const s of streams) {
    for (const t of s.spec.tags ?? []) {
      if (t.from?.kind !== "DockerImage") continue;
      const source = parseImageName(t.from.name);
      if (!source || source.digest !== undefined) continue; // pinned by digest: never moves
      const insecure =
        t.importPolicy?.insecure === true ||
        options.insecureRegistries.some((r) => normaliseRegistry(r) === source.registry);
      targets.push({
        namespace: s.namespace,
        imageStream: s.name,
        tag: t.name,
        source: { ...source, tag: source.tag ?? "latest" },
        insecure,
      });
    }
  }
  return targets;
}

/** `<kiln registry>/<ns>/<is>:<tag>` → that ImageStream tag; null for any other image. */
export function kilnPath(
  image: ImageName,
  kilnRegistry: string,
): { namespace: string; imageStream: string; tag: string } | null {
  if (
    image.registry !== normaliseRegistry(kilnRegistry) ||
    image.tag === undefined ||
    !tagPattern.test(image.tag)
  )
    return null;
  const parts = image.repository.split("/");
  if (parts.length !== 2) return null;
  const [namespace, imageStream] = parts as [string, string];
  if (!namespacePattern.test(namespace) || !resourceNamePattern.test(imageStream)) return null;
  return { namespace, imageStream, tag: image.tag };
}
