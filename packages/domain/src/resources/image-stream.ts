import { z } from "zod";
import { schemasFor, type Strictness } from "./common.js";

export function imageStreamSpecSchema(strictness: Strictness) {
  const { object } = schemasFor(strictness);
  return object({
    lookupPolicy: object({ local: z.boolean() }).optional(),
    tags: z
      .array(
        object({
          name: z.string().min(1).regex(/^[\w][\w.-]{0,127}$/, "must be a valid image tag"),
          from: object({ kind: z.enum(["DockerImage", "ImageStreamTag"]), name: z.string().min(1) }).optional(),
          importPolicy: object({ scheduled: z.boolean().optional(), insecure: z.boolean().optional() }).optional(),
          referencePolicy: object({ type: z.enum(["Source", "Local"]) }).optional(),
          annotations: z.record(z.string(), z.string()).nullish(),
        }),
      )
      .default([]),
  }).default({ tags: [] });
}

export type ImageStreamSpec = z.output<ReturnType<typeof imageStreamSpecSchema>>;
