import { z } from "zod";
import {
  imageTagPattern,
  maxBuildConfigNameLength,
  maxSubdomainLength,
  namespaceName,
  namespacePattern,
  resourceNamePattern,
  subdomainName,
} from "../names.js";
import { buildahReservedEnvName } from "./buildah-env.js";

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
  const metadataOf = (name: z.ZodString) =>
    object({
      name,
      namespace: namespaceName().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
      // Server-set fields are accepted so that `kiln get -o yaml | kiln apply -f -` round-trips.
      resourceVersion: z.string().optional(),
      uid: z.string().optional(),
      creationTimestamp: z.string().optional(),
      generation: z.number().int().min(0).optional(),
    });
  /** Names as Kubernetes has them: a DNS-1123 subdomain of at most 253 characters. */
  const metadata = metadataOf(subdomainName());
  /** A BuildConfig's name is shorter: the names derived from it must stay valid (see maxBuildConfigNameLength). */
  const buildConfigMetadata = metadataOf(
    subdomainName(
      maxBuildConfigNameLength,
      "its builds are <name>-<number>, and localhost/kiln/<namespace>/<build> must be an image name of at most 255",
    ),
  );
  // A value, or one read from a Kiln Secret when the build runs (secret-env.ts): never both.
  const envVar = object({
    name: envName,
    value: z.string().default(""),
    valueFrom: object({
      secretKeyRef: object({
        name: z.string().min(1),
        key: z.string().min(1),
        optional: z.boolean().optional(),
      }).optional(),
    }).optional(),
  }).superRefine((env, ctx) => {
    if (!env.valueFrom) return;
    if (!env.valueFrom.secretKeyRef)
      ctx.addIssue({
        code: "custom",
        path: ["valueFrom", "secretKeyRef"],
        message: "required (the only source Kiln reads a value from)",
      });
    if (env.value !== "")
      ctx.addIssue({
        code: "custom",
        path: ["valueFrom"],
        message: "may not be set when value is not empty",
      });
    const reserved = env.valueFrom.secretKeyRef ? buildahReservedEnvName(env.name) : null;
    if (reserved)
      ctx.addIssue({
        code: "custom",
        path: ["name"],
        message: `may not be read from a Secret: ${reserved}`,
      });
  });
  const localObjectReference = object({ name: z.string().min(1) });
  const imageReference = object({
    kind: z.enum(["DockerImage", "ImageStreamTag", "ImageStreamImage"]),
    name: z.string().min(1),
    namespace: z.string().optional(),
    // The rest of a Kubernetes ObjectReference: stored, and apply warns that they have no effect.
    apiVersion: z.string().optional(),
    fieldPath: z.string().optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
  }).superRefine(checkImageStreamReference);
  return { object, metadata, buildConfigMetadata, envVar, localObjectReference, imageReference };
}

/**
 * An ImageStreamTag (`stream[:tag]`) or ImageStreamImage (`stream@digest`) reference resolves to
 * `<registry>/<namespace>/<stream>`: its parts must be names an ImageStream and a tag can have,
 * or the image it names could never be pulled or pushed. A DockerImage is the user's own string.
 */
function checkImageStreamReference(
  ref: { kind: string; name: string; namespace?: string | undefined },
  ctx: z.core.$RefinementCtx<unknown>,
): void {
  if (ref.namespace !== undefined && !namespacePattern.test(ref.namespace))
    ctx.addIssue({
      code: "custom",
      path: ["namespace"],
      message: "must be a namespace name (a lowercase DNS-1123 label)",
    });
  if (ref.kind === "DockerImage") return;
  const separator = ref.kind === "ImageStreamTag" ? ":" : "@";
  const at = ref.name.indexOf(separator);
  const stream = at < 0 ? ref.name : ref.name.slice(0, at);
  if (stream.length > maxSubdomainLength || !resourceNamePattern.test(stream))
    ctx.addIssue({
      code: "custom",
      path: ["name"],
      message: `${stream || "(empty)"} is not an ImageStream name (a lowercase DNS-1123 subdomain of at most ${maxSubdomainLength} characters)`,
    });
  if (ref.kind === "ImageStreamTag" && at >= 0 && !imageTagPattern.test(ref.name.slice(at + 1)))
    ctx.addIssue({
      code: "custom",
      path: ["name"],
      message: `${ref.name.slice(at + 1) || "(empty)"} is not an image tag (a letter, digit or _, then up to 127 letters, digits, _, . or -)`,
    });
}

export type EnvVar = { name: string; value: string };
/** Where an env entry's value is read from when the build runs (OpenShift's `valueFrom.secretKeyRef`). */
export type SecretKeySelector = { name: string; key: string; optional?: boolean | undefined };
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
