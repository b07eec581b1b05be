import type { BuildCause } from "./resources/build.js";
import type { EnvVar } from "./resources/common.js";
import type { Resource } from "./resources/parse.js";

/** Why a ConfigChange build exists: OpenShift's message for it. */
export const configChangeCause = {
  type: "ConfigChange",
  message: "Build configuration change",
} as const satisfies BuildCause;

/** What an apply did to one resource (the database's answer), as trigger matching needs it. */
export interface AppliedResource {
  action: "created" | "configured" | "unchanged";
  namespace: string;
  name: string;
  /** The stored resource's uid: stays the same across applies of it. */
  uid: string;
}

/** A build a ConfigChange trigger asks for (what `build.requested` carries). */
export interface ConfigChangeBuildRequest {
  requestId: string;
  namespace: string;
  buildConfig: string;
  env: EnvVar[];
  cause: BuildCause;
}

/**
 * Whether applying a resource fires a ConfigChange trigger: a BuildConfig created with one, as
 * in OpenShift. A change to a stored BuildConfig builds nothing (its next build takes the change).
 */
function firesConfigChange(resource: Resource, applied: AppliedResource): boolean {
  return (
    applied.action === "created" &&
    resource.kind === "BuildConfig" &&
    resource.spec.triggers.some((t) => t.type === "ConfigChange")
  );
}

/**
 * The builds an apply's ConfigChange triggers ask for (`results[i]` is what was done to
 * `resources[i]`). The request id is the BuildConfig's uid, so a retried apply never starts a
 * second build.
 */
export function configChangeBuildRequests(
  resources: readonly Resource[],
  results: readonly AppliedResource[],
): ConfigChangeBuildRequest[] {
  return results.flatMap((result, i) =>
    firesConfigChange(resources[i]!, result)
      ? [
          {
            requestId: `config-${result.uid}`,
            namespace: result.namespace,
            buildConfig: result.name,
            env: [],
            cause: configChangeCause,
          },
        ]
      : [],
  );
}
