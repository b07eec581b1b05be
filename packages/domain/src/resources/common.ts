import { z } from "zod";
import { namespacePattern, resourceNamePattern } from "../names.js";

/**
 * Schemas are built by a factory so that Kiln's own `kiln.dev/v1` documents are checked strictly
 * (a misspelt field is an error, as with `kubectl apply --validate=strict`), while OpenShift's
 * `build.openshift.io/v1` documents are accepted as they are: fields Kiln does not use are dropped.
 */
export type Strictness = "strict" | "lenient";

const memoized = new Map<(strictness: Strictness) => unknown, Map<Strictness, unknown>>();

/** `factory(strictness)`, made once per factory and strictness. */
export function memoByStrictness<T>(
  factory: (strictness: Strictness) => T,
  strictness: Strictness,
): T {
  let byStrictness = memoized.get(factory);
  if (!byStrictness) {
    byStrictness = new Map();
    memoized.set(factory, byStrictness);
  }
  if (!byStrictness.has(strictness)) byStrictness.set(strictness, factory(strictness));
  return byStrictness.get(strictness) as T;
}

export function objectFor(strictness: Strictness) {
  return <T extends z.core.$ZodLooseShape>(shape: T) =>
    strictness === "strict" ? z.strictObject(shape) : z.object(shape);
}

export const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "must be a valid environment variable name");

/** Built once per strictness, on first use: a schema costs far more to build than to run. */
export function schemasFor(strictness: Strictness): ReturnType<typeof makeSchemasFor> {
  return memoByStrictness(makeSchemasFor, strictness);
}

function makeSchemasFor(strictness: Strictness) {
  const object = objectFor(strictness);
  const metadata = object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(resourceNamePattern, "must be a lowercase DNS-1123 name"),
    namespace: z
      .string()
      .max(63)
      .regex(namespacePattern, "must be a lowercase DNS-1123 label")
      .optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    // Server-set fields are accepted so that `kiln get -o yaml | kiln apply -f -` round-trips.
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    creationTimestamp: z.string().optional(),
    generation: z.number().optional(),
  });
  const envVar = object({ name: envName, value: z.string().default("") });
  const localObjectReference = object({ name: z.string().min(1) });
  const imageReference = object({
    kind: z.enum(["DockerImage", "ImageStreamTag", "ImageStreamImage"]),
    name: z.string().min(1),
    namespace: z.string().optional(),
  });
  return { object, metadata, envVar, localObjectReference, imageReference };
}

export type EnvVar = { name: string; value: string };
export type ImageReference = {
  kind: "DockerImage" | "ImageStreamTag" | "ImageStreamImage";
  name: string;
  namespace?: string | undefined;
};
export type ObjectMeta = {
  name: string;
  namespace?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  resourceVersion?: string | undefined;
  uid?: string | undefined;
  creationTimestamp?: string | undefined;
  generation?: number | undefined;
};
