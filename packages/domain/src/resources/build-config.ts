import { z } from "zod";
import { subdomainName } from "../names.js";
import { memoByStrictness, schemasFor, type Strictness } from "./common.js";
import { formatCount, maxBuildsHistoryLimit, maxCompletionDeadlineSeconds } from "./limits.js";
import { nodeSelectorSchema, resourceRequirementsSchema } from "./pod-placement.js";
import { postCommitSchema } from "./post-commit.js";
import { resolveStatusTarget, statusReportingSchema } from "./status-reporting.js";

export const RunPolicy = {
  Serial: "Serial",
  Parallel: "Parallel",
  SerialLatestOnly: "SerialLatestOnly",
} as const;
export type RunPolicy = (typeof RunPolicy)[keyof typeof RunPolicy];

export const TriggerType = {
  GitHub: "GitHub",
  GitLab: "GitLab",
  Bitbucket: "Bitbucket",
  Gitea: "Gitea",
  Generic: "Generic",
  ImageChange: "ImageChange",
  ConfigChange: "ConfigChange",
} as const;
export type TriggerType = (typeof TriggerType)[keyof typeof TriggerType];

/** Strategies Kiln runs. OpenShift's Custom and JenkinsPipeline are refused with a clear error. */
export const StrategyType = { Docker: "Docker", Source: "Source" } as const;
export type StrategyType = (typeof StrategyType)[keyof typeof StrategyType];

const relativePath = z
  .string()
  .refine(
    (p) => !p.startsWith("/") && !p.split("/").includes(".."),
    "must be a relative path inside the source",
  );

/** Builds kept per outcome; the pruning query reads it as a PostgreSQL integer. */
const historyLimit = z
  .number()
  .int()
  .min(0)
  .max(
    maxBuildsHistoryLimit,
    `must be at most ${formatCount(maxBuildsHistoryLimit)} (a 32-bit integer, as in OpenShift)`,
  )
  .default(5);

/** Built once per strictness, on first use: a schema costs far more to build than to run. */
export function buildConfigSpecSchema(
  strictness: Strictness,
): ReturnType<typeof makeBuildConfigSpecSchema> {
  return memoByStrictness(makeBuildConfigSpecSchema, strictness);
}

const proxyUrl = z.url({
  protocol: /^https?$/,
  error: "must be an http:// or https:// URL (the proxy git's clone goes through)",
});

function makeBuildConfigSpecSchema(strictness: Strictness) {
  const { object, envVar, localObjectReference, imageReference } = schemasFor(strictness);
  const webhook = object({
    secret: z.string().min(1).optional(),
    secretReference: localObjectReference.optional(),
    allowEnv: z.boolean().optional(),
    /**
     * Kiln extension (OpenShift's webhook triggers have no such field): tag pushes
     * (`refs/tags/…`) start a build of the tagged commit too. @default false: only branch pushes.
     */
    includeTags: z.boolean().optional(),
  });
  const trigger = object({
    type: z.enum(Object.values(TriggerType) as [TriggerType, ...TriggerType[]]),
    github: webhook.optional(),
    gitlab: webhook.optional(),
    bitbucket: webhook.optional(),
    gitea: webhook.optional(),
    generic: webhook.optional(),
    imageChange: object({
      from: imageReference.optional(),
      lastTriggeredImageID: z.string().optional(),
      paused: z.boolean().optional(),
    }).optional(),
  });
  const source = object({
    type: z.enum(["Git", "Dockerfile", "Binary", "None"]).optional(),
    git: object({
      uri: z.string().min(1),
      ref: z.string().min(1).optional(),
      /** Given to git as http_proxy, https_proxy and no_proxy for the clone, as OpenShift does. */
      httpProxy: proxyUrl.optional(),
      httpsProxy: proxyUrl.optional(),
      noProxy: z.string().optional(),
      /**
       * Kiln extension: also poll the ref with `git ls-remote` and build a commit no webhook
       * announced (GitHub sends none when more than three tags are pushed at once; GitLab none
       * past its branch limit).
       */
      poll: z.boolean().optional(),
      /** Kiln extension: report each build's phase on its commit to the git host (status-reporting.ts). */
      statusReporting: statusReportingSchema(strictness).optional(),
    })
      .superRefine((git, ctx) => {
        if (!git.statusReporting) return;
        const { issue } = resolveStatusTarget(git.uri, git.statusReporting);
        if (issue)
          ctx.addIssue({
            code: "custom",
            path: ["statusReporting", issue.path],
            message: issue.message,
          });
      })
      .optional(),
    contextDir: relativePath.optional(),
    dockerfile: z.string().min(1).optional(),
    binary: object({ asFile: z.string().min(1).optional() }).optional(),
    images: z
      .array(
        object({
          from: imageReference,
          paths: z
            .array(object({ sourcePath: z.string().min(1), destinationDir: z.string() }))
            .min(1),
        }),
      )
      .optional(),
    sourceSecret: localObjectReference.optional(),
  }).superRefine((src, ctx) => {
    // Checked on `source` itself (not on the spec) so it is reported next to the other fields' errors.
    if (!src.git && !src.dockerfile && src.type !== "Binary" && !src.binary) {
      ctx.addIssue({ code: "custom", message: "one of git, dockerfile or binary is required" });
    }
  });
  const sourceStrategy = object({
    from: imageReference,
    env: z.array(envVar).optional(),
    incremental: z.boolean().optional(),
    scripts: z.string().min(1).optional(),
    forcePull: z.boolean().optional(),
    pullSecret: localObjectReference.optional(),
    /**
     * Kiln extension (OpenShift's BuildConfig has no such field; s2i's `--runtime-image`): the
     * output is this image plus the runtime artifacts, without the builder's toolchain.
     */
    runtimeImage: imageReference.optional(),
    /** Kiln extension (s2i's `--runtime-artifact src:dest`); default: the runtime image's `io.openshift.s2i.assemble-input-files`. */
    runtimeArtifacts: z
      .array(
        object({
          sourcePath: z
            .string()
            .refine(
              (p) => p.startsWith("/") && !/[*?[\]]/.test(p),
              "must be an absolute path without wildcards",
            ),
          destinationDir: relativePath.optional(),
        }),
      )
      .optional(),
  }).superRefine((s, ctx) => {
    // The spec: "it is not possible to do an extended incremental build".
    if (s.incremental && s.runtimeImage)
      ctx.addIssue({
        code: "custom",
        path: ["incremental"],
        message: "cannot be combined with runtimeImage",
      });
    if (s.runtimeArtifacts?.length && !s.runtimeImage)
      ctx.addIssue({ code: "custom", path: ["runtimeArtifacts"], message: "needs runtimeImage" });
  });
  const dockerStrategy = object({
    from: imageReference.optional(),
    dockerfilePath: relativePath.optional(),
    buildArgs: z.array(envVar).optional(),
    env: z.array(envVar).optional(),
    noCache: z.boolean().optional(),
    forcePull: z.boolean().optional(),
    pullSecret: localObjectReference.optional(),
    target: z.string().min(1).optional(),
    /** Stored; apply warns that Kiln keeps the Dockerfile's layers whatever it says. */
    imageOptimizationPolicy: z.string().optional(),
  });
  const strategy = object({
    /** Optional, as in OpenShift: when absent it is the one strategy block that is set. */
    type: z.string().optional(),
    sourceStrategy: sourceStrategy.optional(),
    dockerStrategy: dockerStrategy.optional(),
  })
    .superRefine((s, ctx) => {
      const blocks = setStrategyBlocks(s);
      if (s.type === undefined) {
        if (blocks.length !== 1)
          ctx.addIssue({
            code: "custom",
            path: ["type"],
            message:
              blocks.length === 0
                ? "required when no strategy block (sourceStrategy or dockerStrategy) is set"
                : `required when ${blocks.join(" and ")} are both set (keep one, and the type is inferred from it)`,
          });
        return;
      }
      if (s.type !== "Docker" && s.type !== "Source") {
        ctx.addIssue({
          code: "custom",
          path: ["type"],
          message: `${s.type} is not supported by Kiln (use Docker or Source)`,
        });
        return;
      }
      if (s.type === "Source" && !s.sourceStrategy) {
        ctx.addIssue({
          code: "custom",
          path: ["sourceStrategy"],
          message: "required when type is Source",
        });
      }
      // OpenShift refuses a block of another strategy than the type: Kiln would ignore it.
      for (const block of blocks)
        if (block !== strategyBlock[s.type])
          ctx.addIssue({
            code: "custom",
            path: [block],
            message: `must not be set when type is ${s.type}`,
          });
    })
    .transform((s) => ({ ...s, type: s.type ?? strategyTypeOf(setStrategyBlocks(s)[0]) }));
  return object({
    source: source,
    strategy: strategy,
    output: object({
      to: imageReference
        .superRefine((r, ctx) => {
          if (r.kind === "ImageStreamImage")
            ctx.addIssue({
              code: "custom",
              path: ["kind"],
              message: "must be ImageStreamTag or DockerImage",
            });
          if (r.kind === "ImageStreamTag" && !/^[^:@]+:[^:@]+$/.test(r.name)) {
            ctx.addIssue({
              code: "custom",
              path: ["name"],
              message: "an ImageStreamTag is NAME:TAG",
            });
          }
        })
        .optional(),
      pushSecret: localObjectReference.optional(),
      imageLabels: z.array(object({ name: z.string().min(1), value: z.string() })).optional(),
    }).default({}),
    triggers: z.array(trigger).default([]),
    /** A Build's field in OpenShift's common spec: stored, and apply warns that a BuildConfig's is not read. */
    revision: z.unknown().optional(),
    runPolicy: z.enum(["Serial", "Parallel", "SerialLatestOnly"]).default("Serial"),
    successfulBuildsHistoryLimit: historyLimit,
    failedBuildsHistoryLimit: historyLimit,
    /** Seconds a build may run before it fails `DeadlineExceeded`; at most about 24.8 days (see maxCompletionDeadlineSeconds). */
    completionDeadlineSeconds: z
      .number()
      .int()
      .positive()
      .max(
        maxCompletionDeadlineSeconds,
        `must be at most ${formatCount(maxCompletionDeadlineSeconds)} (about 24.8 days: the longest timer a runner can set)`,
      )
      .optional(),
    /** Run in a container of the new image before it is pushed; a failure fails the build (post-commit.ts). */
    postCommit: postCommitSchema(strictness).optional(),
    /** Labels the build pod's node must carry (`kubernetes` engine only). */
    nodeSelector: nodeSelectorSchema,
    /** The build pod's service account (`kubernetes` engine only; the api warns on the local one). */
    serviceAccount: subdomainName().optional(),
    /** The build container's requests and limits (`kubernetes` engine only). */
    resources: resourceRequirementsSchema(strictness).optional(),
  });
}

/** The strategy block each type reads. */
const strategyBlock = {
  Docker: "dockerStrategy",
  Source: "sourceStrategy",
} as const satisfies Record<StrategyType, string>;
type StrategyBlock = (typeof strategyBlock)[StrategyType];

function setStrategyBlocks(s: {
  sourceStrategy?: unknown;
  dockerStrategy?: unknown;
}): StrategyBlock[] {
  return (["sourceStrategy", "dockerStrategy"] as const).filter((b) => s[b] !== undefined);
}

/** The type a lone strategy block implies; only called once the refinement saw exactly one. */
function strategyTypeOf(block: StrategyBlock | undefined): StrategyType {
  switch (block) {
    case "dockerStrategy":
      return StrategyType.Docker;
    case "sourceStrategy":
    case undefined:
      return StrategyType.Source;
  }
}

/** Kiln's BuildConfig spec, after defaults. Same field names as OpenShift's. */
export type BuildConfigSpec = z.output<ReturnType<typeof buildConfigSpecSchema>>;
export type BuildSource = BuildConfigSpec["source"];
export type BuildStrategy = BuildConfigSpec["strategy"];
export type BuildOutput = BuildConfigSpec["output"];
export type BuildTrigger = BuildConfigSpec["triggers"][number];
