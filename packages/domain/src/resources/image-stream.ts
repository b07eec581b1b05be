import { z } from "zod";
import { imageTagPattern } from "../names.js";
import { memoByStrictness, schemasFor, type Strictness } from "./common.js";

/** Built once per strictness, on first use: a schema costs far more to build than to run. */
export function imageStreamSpecSchema(
  strictness: Strictness,
): ReturnType<typeof makeImageStreamSpecSchema> {
  return memoByStrictness(makeImageStreamSpecSchema, strictness);
}

function makeImageStreamSpecSchema(strictness: Strictness) {
  const { object } = schemasFor(strictness);
  return object({
    lookupPolicy: object({ local: z.boolean() }).optional(),
    tags: z
      .array(
        object({
          name: z
            .string()
            .min(1)
            .regex(
              imageTagPattern,
              "must be an image tag: a letter, digit or _, then up to 127 letters, digits, _, . or -",
            ),
          from: object({
            kind: z.enum(["DockerImage", "ImageStreamTag"]),
            name: z.string().min(1),
          }).optional(),
          importPolicy: object({
            scheduled: z.boolean().optional(),
            insecure: z.boolean().optional(),
          }).optional(),
          referencePolicy: object({ type: z.enum(["Source", "Local"]) }).optional(),
          annotations: z.record(z.string(), z.string()).nullish(),
        }).superRefine((tag, ctx) => {
          // Builds pull an imported tag from its source (Source); Local would need Kiln's
          // registry to serve it, and Kiln does not copy imported images into its registry.
          if (tag.from?.kind === "DockerImage" && tag.referencePolicy?.type === "Local")
            ctx.addIssue({
              code: "custom",
              path: ["referencePolicy", "type"],
              message:
                "Local is not supported for an imported tag: Kiln does not mirror imported images into its registry (use Source: builds pull the imported digest from its source)",
            });
        }),
      )
      .default([]),
  }).default({ tags: [] });
}

export type ImageStreamSpec = z.output<ReturnType<typeof imageStreamSpecSchema>>;
