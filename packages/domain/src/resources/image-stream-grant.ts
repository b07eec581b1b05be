import { z } from "zod";
import { maxNamespaceLength, namespacePattern, subdomainName } from "../names.js";
import { memoByStrictness, schemasFor, type Strictness } from "./common.js";

/** What a grant allows the grantee's BuildConfigs to do with the granting namespace's images. */
export const ImageAccess = { Pull: "pull", Push: "push" } as const;
export type ImageAccess = (typeof ImageAccess)[keyof typeof ImageAccess];

/** A grantee of `*` is every namespace, as OpenShift's `openshift` project shares its builder images. */
export const everyNamespace = "*";

/** Built once per strictness, on first use: a schema costs far more to build than to run. */
export function imageStreamGrantSpecSchema(
  strictness: Strictness,
): ReturnType<typeof makeImageStreamGrantSpecSchema> {
  return memoByStrictness(makeImageStreamGrantSpecSchema, strictness);
}

/**
 * An ImageStreamGrant, kept in the granting namespace (like OpenShift's `system:image-puller`
 * and `system:image-pusher` RoleBindings for another project's builder): the grantee
 * namespace's BuildConfigs (every namespace's, for `*`) may pull (`from`, image sources,
 * ImageChange triggers) and/or push (`output.to`) this namespace's ImageStreams, all of them
 * or only those listed.
 */
function makeImageStreamGrantSpecSchema(strictness: Strictness) {
  const { object } = schemasFor(strictness);
  return object({
    grantee: object({
      namespace: z
        .string()
        .max(maxNamespaceLength, `must be at most ${maxNamespaceLength} characters`)
        .refine(
          (ns) => ns === everyNamespace || namespacePattern.test(ns),
          `must be a lowercase DNS-1123 label, or ${everyNamespace} for every namespace`,
        ),
    }),
    access: z
      .array(z.enum([ImageAccess.Pull, ImageAccess.Push]))
      .min(1, "pull, push or both")
      .refine((a) => new Set(a).size === a.length, "each of pull and push at most once"),
    /** Only these ImageStreams of the namespace; absent: all of them. */
    imageStreams: z
      .array(subdomainName())
      .min(1, "leave the field out to grant every ImageStream")
      .optional(),
  });
}

/** An ImageStreamGrant's spec. Stored in `image_stream_grants.spec`, on the wire as written. */
export type ImageStreamGrantSpec = z.output<ReturnType<typeof imageStreamGrantSpecSchema>>;
