import { z } from "zod";
import { imageStreamUses, imageStreamUseSchema } from "../access/image-access.js";
import type { BuildPhase } from "../build-phase.js";
import type { FieldIssue } from "../errors.js";
import type { FailureReason } from "../failure-reason.js";
import { buildName } from "../names.js";
import { buildConfigSpecSchema, type BuildConfigSpec } from "./build-config.js";
import type { EnvVar, ImageReference } from "./common.js";
import { formatBytes, formatCount, jsonBytes, largestPart, maxBuildSpecBytes } from "./limits.js";
import { nodeSelectorSchema } from "./pod-placement.js";

// A build's spec is stored (`builds.spec`) and sent to the runners (`build.dispatched`): these
// schemas check it on the wire, and its types are derived from them, so the two cannot drift.

/** Why a build exists; shown by `kiln describe build` (OpenShift's `triggeredBy`). On the wire in `build.requested`. */
export const buildCauseSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("Manual"), message: z.string(), user: z.string().optional() }),
  z.object({
    type: z.literal("GitPush"),
    message: z.string(),
    deliveryId: z.string().optional(),
    commit: z.string().optional(),
  }),
  z.object({ type: z.literal("ImageChange"), message: z.string(), image: z.string().optional() }),
  z.object({ type: z.literal("ConfigChange"), message: z.string() }),
]);
export type BuildCause = z.output<typeof buildCauseSchema>;

/**
 * Where a binary build's uploaded content is kept (on the wire in `build.requested` and in the
 * build's spec). The bytes themselves are never in a message: they sit in the bus's object
 * store under `object` until the build has ended (or the store's TTL passes).
 */
export const binaryInputSchema = z.object({
  /** Object name in the build-inputs object store (the request id). */
  object: z.string().min(1),
  /** `file`: one file placed in the source dir as `asFile`; `archive`: a tar or tar.gz unpacked as the source dir. */
  kind: z.enum(["file", "archive"]),
  /** The file name for `kind: file` (OpenShift's `spec.source.binary.asFile`). */
  asFile: z.string().min(1).optional(),
  /** Bytes uploaded (compressed size for an archive). */
  size: z.number().int().min(0),
  /** Lowercase hex SHA-256 of the uploaded bytes; the runner checks it while reading. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** When the api stored the upload (ISO 8601): a layer-append build's mtimes, so one upload makes one layer. */
  uploadedAt: z.string().optional(),
});
export type BinaryInput = z.output<typeof binaryInputSchema>;

/** The source revision a build used, as OpenShift records it (`spec.revision.git`). On the wire in `build.status-changed`. */
export const buildRevisionSchema = z.object({
  commit: z.string(),
  ref: z.string().optional(),
  author: z.string(),
  date: z.string(),
  message: z.string(),
});
export type BuildRevision = z.output<typeof buildRevisionSchema>;

let buildSpec: ReturnType<typeof makeBuildSpecSchema> | undefined;

/**
 * What a runner needs to run one build: a snapshot, so editing the BuildConfig later changes
 * nothing. Built once, on first use (it holds the BuildConfig's source and strategy schemas,
 * which cost far more to build than to run).
 */
export function buildSpecSchema(): ReturnType<typeof makeBuildSpecSchema> {
  return (buildSpec ??= makeBuildSpecSchema());
}

function makeBuildSpecSchema() {
  // The BuildConfig's own schemas, read leniently: a field a newer Kiln adds is dropped, not refused.
  const config = buildConfigSpecSchema("lenient").shape;
  return z.object({
    buildConfig: z.string().min(1),
    number: z.number().int().positive(),
    source: config.source,
    strategy: config.strategy,
    output: z.object({
      /** Fully resolved image name the build pushes to, e.g. `127.0.0.1:15000/default/hello:latest`. */
      image: z.string().nullable(),
      imageLabels: z.array(z.object({ name: z.string().min(1), value: z.string() })),
    }),
    /**
     * The exact commit to build when the trigger named one (a push, `--commit`); once the source
     * is fetched, the commit actually built, with its author, date and message.
     */
    revision: buildRevisionSchema.partial(),
    /** Names of the Secrets with registry credentials: for pulling base images, for pushing the output. */
    credentials: z
      .object({ pullSecret: z.string().optional(), pushSecret: z.string().optional() })
      .optional(),
    /** Extra environment for this build (`kiln start-build --env`). */
    env: z.array(z.object({ name: z.string(), value: z.string() })),
    completionDeadlineSeconds: z.number().int().positive().optional(),
    /** The BuildConfig's `spec.postCommit`: run in a container of the committed image before the push. */
    postCommit: config.postCommit,
    /** The BuildConfig's `spec.resources`: requests and limits of the build pod (`kubernetes` engine). */
    resources: config.resources,
    /**
     * The BuildConfig's `spec.nodeSelector`: where the build pod may run (`kubernetes` engine).
     * Absent rather than null on a build (OpenShift's null is left out when the build is made).
     */
    nodeSelector: nodeSelectorSchema.unwrap().unwrap().optional(),
    /** The BuildConfig's `spec.serviceAccount`: the build pod's (`kubernetes` engine). */
    serviceAccount: config.serviceAccount,
    triggeredBy: z.array(buildCauseSchema),
    /**
     * The uploaded source of a binary build (`kiln start-build --from-file/--from-dir/--from-archive`).
     * When set it replaces any git source. Absent on every other build.
     */
    binaryInput: binaryInputSchema.optional(),
    /**
     * The other namespaces' ImageStreams the build pulls from or pushes to (the BuildConfig's, when
     * the build was made). The scheduler checks them against the ImageStreamGrants in force when
     * it dispatches: a grant revoked since the apply fails the build `ImageAccessDenied`.
     */
    imageStreamUses: z.array(imageStreamUseSchema).optional(),
  });
}

/** What a runner needs to run one build (see {@link buildSpecSchema}). Stored in `builds.spec`, on the wire in `build.dispatched`. */
export type BuildSpec = z.output<ReturnType<typeof buildSpecSchema>>;

/** What a build is made of besides its BuildConfig: the request that asked for it, and its number. */
export interface NewBuildSpec {
  namespace: string;
  buildConfig: string;
  number: number;
  commit?: string | undefined;
  env: EnvVar[];
  cause: BuildCause;
  /** The uploaded source of a binary build; copied into the spec so the dispatch carries it. */
  binary?: BinaryInput | undefined;
  /** Images an image change pinned by digest for this build. */
  pinnedImages?: PinnedImages | undefined;
}

/**
 * The spec of a new build of a BuildConfig: its images resolved to pullable names, the request's
 * env and commit, the cause. The one place a build's spec is made, so the api can weigh the
 * spec a build would carry before anything is stored ({@link buildSpecSizeIssue}).
 */
export function buildSpecFor(
  spec: BuildConfigSpec,
  build: NewBuildSpec,
  registry: string,
): BuildSpec {
  // Another namespace's ImageStreams: checked against the grants when the build is dispatched.
  const crossNamespace = imageStreamUses(spec, build.namespace, registry).filter(
    (use) => use.namespace !== build.namespace,
  );
  return {
    buildConfig: build.buildConfig,
    number: build.number,
    ...resolveBuildImages(spec, build.namespace, registry, build.pinnedImages),
    output: {
      image: resolveOutputImage(spec, build.namespace, registry),
      imageLabels: spec.output.imageLabels ?? [],
    },
    revision: { commit: build.commit },
    credentials: {
      pullSecret:
        spec.strategy.dockerStrategy?.pullSecret?.name ??
        spec.strategy.sourceStrategy?.pullSecret?.name,
      pushSecret: spec.output.pushSecret?.name,
    },
    env: build.env,
    completionDeadlineSeconds: spec.completionDeadlineSeconds,
    ...(spec.postCommit ? { postCommit: spec.postCommit } : {}),
    // Where and with what the build pod runs (`kubernetes` engine; the local engine ignores them).
    ...(spec.resources ? { resources: spec.resources } : {}),
    ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec.serviceAccount ? { serviceAccount: spec.serviceAccount } : {}),
    triggeredBy: [build.cause],
    ...(build.binary ? { binaryInput: build.binary } : {}),
    ...(crossNamespace.length > 0 ? { imageStreamUses: crossNamespace } : {}),
  };
}

/** A build planned and about to be stored: its number, its name and what it runs. */
export interface PlannedBuild {
  number: number;
  /** `<buildConfig>-<number>`. */
  name: string;
  spec: BuildSpec;
}

/**
 * The next build of a BuildConfig read under its row lock: numbered one past `lastVersion`,
 * with its spec snapshot ({@link buildSpecFor}), so an apply after this never changes what the
 * build runs. The caller stores it (and the new `lastVersion`) in the same transaction.
 */
export function planNextBuild(
  bc: { spec: BuildConfigSpec; lastVersion: number },
  build: Omit<NewBuildSpec, "number">,
  registry: string,
): PlannedBuild {
  const number = bc.lastVersion + 1;
  return {
    number,
    name: buildName(build.buildConfig, number),
    spec: buildSpecFor(bc.spec, { ...build, number }, registry),
  };
}

/** Where each part of a build's spec comes from, as the caller wrote it. */
function sourcePathOf(path: readonly (string | number)[]): (string | number)[] {
  const [first, second] = path;
  switch (first) {
    case "env":
      return path.slice();
    case "revision":
      return ["commit"];
    case "triggeredBy":
      return ["cause"];
    case "output":
      return second === "image" ? ["spec", "output", "to"] : ["spec", ...path];
    case "source":
    case "strategy":
    case "resources":
    case "nodeSelector":
    case "serviceAccount":
    case "postCommit":
      return ["spec", ...path];
    default:
      // Derived by Kiln (imageStreamUses, credentials): the BuildConfig's spec as a whole.
      return ["spec"];
  }
}

function pathText(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/**
 * Null when the build's spec fits in the {@link maxBuildSpecBytes} a build can carry on the bus;
 * otherwise the issue to refuse it with, naming its largest part as the caller wrote it
 * (`spec.source.dockerfile`, `env`) and the limit.
 */
export function buildSpecSizeIssue(spec: BuildSpec): FieldIssue | null {
  const total = jsonBytes(spec);
  if (total <= maxBuildSpecBytes) return null;
  const limit = `the ${formatBytes(maxBuildSpecBytes)} (${formatCount(maxBuildSpecBytes)} bytes) a build can carry`;
  const part = largestPart(spec);
  const path = pathText(sourcePathOf(part.path)) || "spec";
  return {
    path,
    message:
      part.bytes > maxBuildSpecBytes
        ? `${formatCount(part.bytes)} bytes is over ${limit}`
        : `${formatCount(part.bytes)} bytes, which makes the build's spec ${formatCount(total)} bytes, over ${limit}`,
  };
}

/** The largest build number: `builds.number` is a PostgreSQL `integer`. */
const maxBuildNumber = 2_147_483_647;

/**
 * {@link buildSpecSizeIssue} for a build not made yet: weighed as the scheduler will make it,
 * with the longest number a build can get, so the weight is never below the real one. What the
 * api and the webhook receiver check before they ask for a build.
 */
export function newBuildSizeIssue(
  spec: BuildConfigSpec,
  build: Omit<NewBuildSpec, "number">,
  registry: string,
): FieldIssue | null {
  return buildSpecSizeIssue(buildSpecFor(spec, { ...build, number: maxBuildNumber }, registry));
}

export interface BuildOutputStatus {
  image: string;
  digest: string;
  /** `registry/repo@sha256:…`: what gets deployed. */
  imageReference: string;
  /** Bytes in the registry: config plus compressed layers. */
  size?: number | undefined;
}

/** A build as Kiln stores it. */
export interface BuildRecord {
  id: string;
  namespace: string;
  name: string;
  buildConfig: string;
  number: number;
  phase: BuildPhase;
  reason: FailureReason | null;
  message: string | null;
  spec: BuildSpec;
  output: BuildOutputStatus | null;
  logSnippet: string | null;
  resourceVersion: number;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** `namespace/imagestream:tag` → `registry/namespace/imagestream@sha256:…`, for the build an image change set off. */
export type PinnedImages = Record<string, string>;

/**
 * Resolves an image reference of a BuildConfig to a pullable name. An ImageStreamTag
 * `app:latest` in namespace `ns` lives at `<registry>/ns/app:latest` in Kiln's registry;
 * a DockerImage is used as written.
 */
export function resolveImageReference(
  ref: ImageReference,
  namespace: string,
  registry: string,
  pinned: PinnedImages = {},
): string {
  switch (ref.kind) {
    case "DockerImage":
      return ref.name;
    case "ImageStreamTag":
      // A trigger pins the digest that set it off, so the build uses exactly that image.
      return (
        pinned[`${ref.namespace ?? namespace}/${ref.name}`] ??
        `${registry}/${ref.namespace ?? namespace}/${ref.name}`
      );
    case "ImageStreamImage": {
      // `name@sha256:…`: the same repository, by digest.
      return `${registry}/${ref.namespace ?? namespace}/${ref.name}`;
    }
  }
}

/**
 * Resolves a BuildConfig output to the image reference a runner pushes to.
 * An ImageStreamTag `app:latest` in namespace `ns` lives at `<registry>/ns/app:latest` in
 * Kiln's registry; a DockerImage is used as written.
 */
export function resolveOutputImage(
  spec: BuildConfigSpec,
  namespace: string,
  registry: string,
): string | null {
  const to = spec.output.to;
  if (!to || to.kind === "ImageStreamImage") return null;
  return resolveImageReference(to, namespace, registry);
}

/**
 * The BuildConfig's image references (strategy `from`, image sources) as pullable names, so a
 * runner needs no knowledge of ImageStreams.
 */
export function resolveBuildImages(
  spec: BuildConfigSpec,
  namespace: string,
  registry: string,
  pinned: PinnedImages = {},
): Pick<BuildConfigSpec, "source" | "strategy"> {
  const resolve = (ref: ImageReference): ImageReference => ({
    kind: "DockerImage",
    name: resolveImageReference(ref, namespace, registry, pinned),
  });
  const { source, strategy } = spec;
  return {
    source: source.images
      ? { ...source, images: source.images.map((i) => ({ ...i, from: resolve(i.from) })) }
      : source,
    strategy: {
      ...strategy,
      ...(strategy.dockerStrategy?.from
        ? {
            dockerStrategy: {
              ...strategy.dockerStrategy,
              from: resolve(strategy.dockerStrategy.from),
            },
          }
        : {}),
      ...(strategy.sourceStrategy
        ? {
            sourceStrategy: {
              ...strategy.sourceStrategy,
              from: resolve(strategy.sourceStrategy.from),
              ...(strategy.sourceStrategy.runtimeImage
                ? { runtimeImage: resolve(strategy.sourceStrategy.runtimeImage) }
                : {}),
            },
          }
        : {}),
    },
  };
}

/** `registry/repo:tag` + digest → `registry/repo@sha256:…`. */
export function imageReferenceByDigest(image: string, digest: string): string {
  const at = image.indexOf("@");
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  const repo = colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
  return `${repo}@${digest}`;
}
