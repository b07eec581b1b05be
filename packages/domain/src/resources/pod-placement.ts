import { z } from "zod";
import { objectFor, type Strictness } from "./common.js";

/**
 * What a build pod asks of its node, as OpenShift's BuildConfig has it (`spec.resources`,
 * `spec.nodeSelector`). Only the `kubernetes` engine uses them: they become the build pod's
 * container resources and node selector. The `local` engine builds on its own host and ignores them.
 */

/**
 * A Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`): a decimal number with an optional binary
 * (`Ki`…`Ei`), decimal (`n u m k M G T P E`) or exponent suffix.
 */
const quantityPattern = /^[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

const binarySuffixes: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const decimalSuffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A quantity's value as a number (`500m` → 0.5, `1Gi` → 1073741824); null when it is not one. */
export function parseQuantity(quantity: string): number | null {
  if (!quantityPattern.test(quantity)) return null;
  const match = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$/.exec(quantity);
  if (!match) return null;
  const number = Number(match[1]);
  const suffix = match[2] ?? "";
  if (/^[eE]/.test(suffix)) return number * 10 ** Number(suffix.slice(1));
  const factor = binarySuffixes[suffix] ?? decimalSuffixes[suffix];
  return factor === undefined ? null : number * factor;
}

/** `cpu`, `memory`, `ephemeral-storage`, or an extended resource such as `example.com/gpu`. */
const resourceName = z
  .string()
  .regex(
    /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    "must be a resource name such as cpu, memory or example.com/gpu",
  );

/** Quantities are strings on the wire; YAML's bare `2` is accepted and kept as `"2"`, as Kubernetes does. */
const quantity = z
  .union([z.string(), z.number().nonnegative()])
  .transform((q) => String(q))
  .refine((q) => parseQuantity(q) !== null, "must be a Kubernetes quantity such as 500m, 2 or 1Gi");

const quantities = z.record(resourceName, quantity);

/**
 * OpenShift's `spec.resources` (a Kubernetes ResourceRequirements): `limits` and `requests`.
 * A request above its limit is refused here rather than by the API server at build time.
 * `claims` is refused at apply (openshift-fields.ts): Kiln cannot give a build pod a claim.
 */
export function resourceRequirementsSchema(strictness: Strictness) {
  return objectFor(strictness)({
    limits: quantities.optional(),
    requests: quantities.optional(),
  }).superRefine((r, ctx) => {
    for (const [name, request] of Object.entries(r.requests ?? {})) {
      const limit = r.limits?.[name];
      if (limit === undefined) continue;
      if ((parseQuantity(request) ?? 0) > (parseQuantity(limit) ?? Infinity)) {
        ctx.addIssue({
          code: "custom",
          path: ["requests", name],
          message: `must be less than or equal to the ${name} limit (${limit})`,
        });
      }
    }
  });
}

/** Container resources of the build pod. */
export type ResourceRequirements = {
  limits?: Record<string, string> | undefined;
  requests?: Record<string, string> | undefined;
};

/** A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
const labelKey = z
  .string()
  .regex(
    /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    "must be a label key such as kubernetes.io/os",
  );
/** A label value: empty, or at most 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends. */
const labelValue = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/,
    "must be a label value (at most 63 characters)",
  );

/** OpenShift's `spec.nodeSelector`: labels the build pod's node must carry. `null` (OpenShift's default) means none. */
export const nodeSelectorSchema = z.record(labelKey, labelValue).nullish();
