import type { BuildConfigSpec } from "./resources/build-config.js";
import type { ImageReference } from "./resources/common.js";

/** `namespace/imagestream:tag`: how an ImageStream tag is named across Kiln (maps, keys, causes). */
export function imageStreamTagKey(namespace: string, nameAndTag: string): string {
  return `${namespace}/${nameAndTag}`;
}

export interface ImageChangeInput {
  /** `namespace/imagestream:tag` the trigger follows. */
  key: string;
  paused: boolean;
}

/**
 * The ImageStream tags a BuildConfig's ImageChange triggers follow. A trigger without `from`
 * follows the strategy's own image (`sourceStrategy.from` / `dockerStrategy.from`), as in
 * OpenShift; only ImageStreamTags can change, so DockerImage references are not followed.
 */
export function imageChangeInputs(spec: BuildConfigSpec, namespace: string): ImageChangeInput[] {
  const strategyFrom = spec.strategy.sourceStrategy?.from ?? spec.strategy.dockerStrategy?.from;
  const inputs: ImageChangeInput[] = [];
  for (const trigger of spec.triggers) {
    if (trigger.type !== "ImageChange") continue;
    const from: ImageReference | undefined = trigger.imageChange?.from ?? strategyFrom;
    if (!from || from.kind !== "ImageStreamTag") continue;
    inputs.push({
      key: imageStreamTagKey(from.namespace ?? namespace, from.name),
      paused: trigger.imageChange?.paused ?? false,
    });
  }
  return inputs;
}
