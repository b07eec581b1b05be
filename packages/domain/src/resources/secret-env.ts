import type { BuildSpec } from "./build.js";
import type { EnvVar, SecretKeySelector } from "./common.js";

/**
 * OpenShift's `env[].valueFrom.secretKeyRef` (strategy env and Docker build args): the build's
 * stored spec keeps only the reference; the scheduler reads the values it names when it
 * dispatches the build and seals them with the registry credentials, and the runner fills them
 * in ({@link withSecretEnv}). So a value is never in the database's builds, an API response or
 * the bus's store in clear.
 */

type EnvEntry = EnvVar & {
  valueFrom?: { secretKeyRef?: SecretKeySelector | undefined } | undefined;
};

/** The values read for one build: Secret name → key → value (only the keys its env names). */
export type SecretEnvValues = Record<string, Record<string, string>>;

/** One env entry that reads a Secret, and where it sits (for a failure that names it). */
export interface SecretEnvRef {
  /** `spec.strategy.dockerStrategy.env[0]`: the entry as the BuildConfig has it. */
  field: string;
  env: string;
  ref: SecretKeySelector;
}

function envLists(spec: BuildSpec): [string, readonly EnvEntry[] | undefined][] {
  const { dockerStrategy: docker, sourceStrategy: source } = spec.strategy;
  return [
    ["spec.strategy.sourceStrategy.env", source?.env],
    ["spec.strategy.dockerStrategy.env", docker?.env],
    ["spec.strategy.dockerStrategy.buildArgs", docker?.buildArgs],
  ];
}

/** The env entries of `spec` whose value is read from a Secret. */
export function secretEnvRefs(spec: BuildSpec): SecretEnvRef[] {
  return envLists(spec).flatMap(([field, list]) =>
    (list ?? []).flatMap((env, i) => {
      const ref = env.valueFrom?.secretKeyRef;
      return ref ? [{ field: `${field}[${i}]`, env: env.name, ref }] : [];
    }),
  );
}

/**
 * `spec` with each Secret-read entry's value filled in from `values`. An optional reference
 * whose Secret or key is absent leaves the variable unset, as in Kubernetes; a required one
 * absent here means the scheduler let it through, which is a bug: it throws rather than build
 * with an empty value.
 */
export function withSecretEnv(spec: BuildSpec, values: SecretEnvValues | undefined): BuildSpec {
  const fill = (list: EnvEntry[] | undefined): EnvEntry[] | undefined =>
    list?.flatMap((env) => {
      const ref = env.valueFrom?.secretKeyRef;
      if (!ref) return [env];
      const value = values?.[ref.name]?.[ref.key];
      if (value !== undefined) return [{ ...env, value }];
      if (ref.optional) return [];
      throw new Error(
        `no value was sealed for env ${env.name} (Secret ${ref.name}, key ${ref.key})`,
      );
    });
  const { dockerStrategy: docker, sourceStrategy: source } = spec.strategy;
  if (secretEnvRefs(spec).length === 0) return spec;
  return {
    ...spec,
    strategy: {
      ...spec.strategy,
      ...(source ? { sourceStrategy: { ...source, env: fill(source.env) } } : {}),
      ...(docker
        ? {
            dockerStrategy: { ...docker, env: fill(docker.env), buildArgs: fill(docker.buildArgs) },
          }
        : {}),
    },
  };
}
