import { z } from "zod";
import type { BuildConfigSpec } from "../resources/build-config.js";
import type { ImageReference } from "../resources/common.js";
import {
  everyNamespace,
  ImageAccess,
  type ImageStreamGrantSpec,
} from "../resources/image-stream-grant.js";

/**
 * One ImageStream a BuildConfig pulls from or pushes to, with the field that says so. On the
 * wire in a build's spec (`imageStreamUses`), which `build.dispatched` carries.
 */
export const imageStreamUseSchema = z.object({
  namespace: z.string(),
  imageStream: z.string(),
  access: z.enum([ImageAccess.Pull, ImageAccess.Push]),
  /** e.g. `spec.output.to`, `spec.source.images[0].from`. */
  path: z.string(),
});
export type ImageStreamUse = z.output<typeof imageStreamUseSchema>;

/** An ImageStreamGrant as the rules read it (see `imageStreamGrantSpecSchema`). */
export interface ImageStreamGrantRule {
  /** The granting namespace: whose ImageStreams. */
  namespace: string;
  name: string;
  spec: ImageStreamGrantSpec;
}

/** `registry/ns/name:tag`, `registry/ns/name@sha256:…` → `{ namespace, imageStream }`, when it is Kiln's registry. */
function inKilnRegistry(
  image: string,
  registry: string,
): { namespace: string; imageStream: string } | null {
  const slash = image.indexOf("/");
  if (slash < 0 || !sameRegistry(image.slice(0, slash), registry)) return null;
  const path = image.slice(slash + 1).replace(/@.*$/, "");
  const repo = path.replace(/:[^/]*$/, "");
  const [namespace, ...rest] = repo.split("/");
  if (!namespace || rest.length === 0) return null;
  return { namespace, imageStream: rest.join("/") };
}

// 0.0.0.0 and [::] connect to this host's loopback on Linux, as the names below do.
const loopback = (host: string) =>
  ["localhost", "[::1]", "0.0.0.0", "[::]"].includes(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Whether `host` (`host[:port]` of an image name) is Kiln's registry. Every loopback name with
 * the same port counts: `localhost:15000` and `127.0.0.1:15000` are the same registry to a runner.
 */
function sameRegistry(host: string, registry: string): boolean {
  const a = host.toLowerCase();
  const b = registry.toLowerCase();
  if (a === b) return true;
  const split = (h: string) => {
    const colon = h.lastIndexOf(":");
    return colon > h.lastIndexOf("]") ? [h.slice(0, colon), h.slice(colon + 1)] : [h, ""];
  };
  const [hostA, portA] = split(a);
  const [hostB, portB] = split(b);
  return portA === portB && loopback(hostA!) && loopback(hostB!);
}

/**
 * Every ImageStream a BuildConfig in `namespace` uses: it pushes its `output.to` (an
 * ImageStreamTag, or a DockerImage name in Kiln's registry, which moves the same tags); it pulls
 * the ImageStreamTags and ImageStreamImages of its strategy, image sources and ImageChange
 * triggers. A DockerImage it pulls is not counted: a Dockerfile's FROM line can name the same
 * image unseen, so a rule here would only look like one (see README, Security model).
 */
export function imageStreamUses(
  spec: BuildConfigSpec,
  namespace: string,
  registry: string,
): ImageStreamUse[] {
  const uses: ImageStreamUse[] = [];
  const pull = (ref: ImageReference | undefined, path: string) => {
    if (!ref || ref.kind === "DockerImage") return;
    const imageStream = ref.name.split(ref.kind === "ImageStreamTag" ? ":" : "@")[0]!;
    uses.push({
      namespace: ref.namespace ?? namespace,
      imageStream,
      access: ImageAccess.Pull,
      path,
    });
  };
  const to = spec.output.to;
  if (to?.kind === "ImageStreamTag") {
    uses.push({
      namespace: to.namespace ?? namespace,
      imageStream: to.name.split(":")[0]!,
      access: ImageAccess.Push,
      path: "spec.output.to",
    });
  } else if (to?.kind === "DockerImage") {
    const target = inKilnRegistry(to.name, registry);
    if (target) uses.push({ ...target, access: ImageAccess.Push, path: "spec.output.to" });
  }
  const { sourceStrategy, dockerStrategy } = spec.strategy;
  pull(sourceStrategy?.from, "spec.strategy.sourceStrategy.from");
  pull(sourceStrategy?.runtimeImage, "spec.strategy.sourceStrategy.runtimeImage");
  pull(dockerStrategy?.from, "spec.strategy.dockerStrategy.from");
  spec.source.images?.forEach((image, i) => pull(image.from, `spec.source.images[${i}].from`));
  spec.triggers.forEach((trigger, i) =>
    pull(trigger.imageChange?.from, `spec.triggers[${i}].imageChange.from`),
  );
  return uses;
}

/** Whether a BuildConfig of `grantee` may make `use`: its own namespace's, or granted by the other. */
export function isGranted(
  grants: readonly ImageStreamGrantRule[],
  grantee: string,
  use: Pick<ImageStreamUse, "namespace" | "imageStream" | "access">,
): boolean {
  if (use.namespace === grantee) return true;
  return grants.some(
    (g) =>
      g.namespace === use.namespace &&
      (g.spec.grantee.namespace === grantee || g.spec.grantee.namespace === everyNamespace) &&
      g.spec.access.includes(use.access) &&
      (g.spec.imageStreams?.includes(use.imageStream) ?? true),
  );
}

/** The uses of a BuildConfig in `grantee` that no grant allows. */
export function deniedUses(
  uses: readonly ImageStreamUse[],
  grants: readonly ImageStreamGrantRule[],
  grantee: string,
): ImageStreamUse[] {
  return uses.filter((use) => !isGranted(grants, grantee, use));
}

/** `BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): …`. */
export function describeDeniedUse(
  buildConfig: { namespace: string; name: string },
  use: ImageStreamUse,
): string {
  const verb = use.access === ImageAccess.Push ? "push to" : "pull from";
  return `BuildConfig ${buildConfig.namespace}/${buildConfig.name} may not ${verb} ImageStream ${use.namespace}/${use.imageStream} (${use.path}): no ImageStreamGrant in namespace ${use.namespace} gives namespace ${buildConfig.namespace} ${use.access}`;
}

/**
 * Whether a BuildConfig of `grantee` may follow the tag `namespace/imagestream:tag` with an
 * ImageChange trigger: a trigger on another namespace's tag fires only while a grant allows pull.
 */
export function mayFollowTag(
  grants: readonly ImageStreamGrantRule[],
  grantee: string,
  tagKey: string,
): boolean {
  const slash = tagKey.indexOf("/");
  const namespace = tagKey.slice(0, slash);
  const imageStream = tagKey.slice(slash + 1).split(":")[0]!;
  return isGranted(grants, grantee, { namespace, imageStream, access: ImageAccess.Pull });
}
