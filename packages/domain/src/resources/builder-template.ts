import { z } from "zod";
import { imageTagPattern } from "../names.js";
import { memoByStrictness, schemasFor, type Strictness } from "./common.js";

/**
 * The namespace whose BuilderTemplates every namespace sees, as OpenShift's `openshift` project
 * holds the builder images and templates `oc new-app` searches. Any token may read them; only a
 * token with `edit` there (or cluster-admin) changes them. A namespace's own template of the
 * same name is used in its place.
 */
export const sharedTemplatesNamespace = "openshift";

/** Built once per strictness, on first use: a schema costs far more to build than to run. */
export function builderTemplateSpecSchema(
  strictness: Strictness,
): ReturnType<typeof makeBuilderTemplateSpecSchema> {
  return memoByStrictness(makeBuilderTemplateSpecSchema, strictness);
}

/** A detection file is one name at the top of the repository, as `oc new-app` looks for them. */
const detectFile = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!\.{1,2}$)[^/\0]+$/, "a file name at the top of the repository (no /)");

/**
 * A builder template (KubeSphere's S2iBuilderTemplate): a named S2I builder image per language or
 * framework, with its versions, and the files whose presence at the top of a repository says
 * `kiln new-build` should use it.
 */
function makeBuilderTemplateSpecSchema(strictness: Strictness) {
  const { object, envVar } = schemasFor(strictness);
  // An ImageStreamImage pins one digest: a version is a moving name, so only tags and images.
  const image = object({
    kind: z.enum(["DockerImage", "ImageStreamTag"]),
    name: z.string().min(1),
    namespace: z.string().optional(),
  });
  const version = object({
    name: z.string().regex(imageTagPattern, "must be a version name like 1.22 or latest"),
    builderImage: image,
    runtimeImage: image.optional(),
    runtimeArtifacts: z
      .array(
        object({
          sourcePath: z
            .string()
            .refine(
              (p) => p.startsWith("/") && !/[*?[\]]/.test(p),
              "must be an absolute path without wildcards",
            ),
          destinationDir: z.string().optional(),
        }),
      )
      .optional(),
  }).superRefine((v, ctx) => {
    if (v.runtimeArtifacts?.length && !v.runtimeImage)
      ctx.addIssue({ code: "custom", path: ["runtimeArtifacts"], message: "needs runtimeImage" });
  });
  return object({
    description: z.string().default(""),
    /** What the template builds (`go`, `nodejs`, `static`): shown by `kiln get templates`. */
    codeFramework: z.string().min(1),
    versions: z
      .array(version)
      .min(1, "at least one version with its builderImage")
      .refine(
        (vs) => new Set(vs.map((v) => v.name)).size === vs.length,
        "each version name at most once",
      ),
    /** The version `new-build` uses unless told; absent: the first. */
    defaultVersion: z.string().optional(),
    env: z.array(envVar).default([]),
    /** Any of these at the top of a repository selects the template. */
    detect: object({ files: z.array(detectFile).min(1) }),
  }).superRefine((t, ctx) => {
    if (t.defaultVersion !== undefined && !t.versions.some((v) => v.name === t.defaultVersion))
      ctx.addIssue({
        code: "custom",
        path: ["defaultVersion"],
        message: `${t.defaultVersion} is not one of the versions (${t.versions.map((v) => v.name).join(", ")})`,
      });
  });
}

export type BuilderTemplateSpec = z.output<ReturnType<typeof builderTemplateSpecSchema>>;
export type BuilderTemplateVersion = BuilderTemplateSpec["versions"][number];
