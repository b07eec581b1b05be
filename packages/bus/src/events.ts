import {
  binaryInputSchema,
  buildCauseSchema,
  buildPhases,
  buildRevisionSchema,
  buildSpecSchema,
  deployPhases,
  deployReasons,
  FailureReason,
  workloadKinds,
} from "@kiln/domain";
import { z } from "zod";

// Wire schemas. Each is a `const` + `type` pair named `<Fact>V<n>`; a breaking change adds a V2
// beside V1, never edits V1 in place (consumers may still hold V1 messages in a stream).
// A build's spec, cause and revision are the domain's schemas: its types are derived from them.

const envVar = z.object({ name: z.string(), value: z.string() });

/** A user, webhook or trigger asked for a build of a BuildConfig. Key: `requestId`. */
export const BuildRequestedV1 = z.object({
  v: z.literal(1),
  /** Idempotency key: the same request twice makes one build. */
  requestId: z.string().min(1),
  namespace: z.string(),
  buildConfig: z.string(),
  commit: z.string().optional(),
  env: z.array(envVar).default([]),
  cause: buildCauseSchema,
  requestedAt: z.string(),
  /** `namespace/imagestream:tag` → `registry/…@sha256:…`: the images an image change pins for this build. */
  pinnedImages: z.record(z.string(), z.string()).optional(),
  /**
   * Uploaded source of a binary build (`instantiatebinary`), kept in the BUILD_INPUTS object
   * store. Optional, so V1 messages without it stay valid and old consumers ignore it.
   */
  binary: binaryInputSchema.optional(),
});
export type BuildRequestedV1 = z.output<typeof BuildRequestedV1>;

/**
 * The scheduler recorded a build and hands it to whichever runner pulls it. Key: build id.
 * Version 2: the registry credentials are sealed for the runners (version 1 carried them in clear).
 */
export const BuildDispatchedV2 = z.object({
  v: z.literal(2),
  buildId: z.string(),
  namespace: z.string(),
  name: z.string(),
  /** The build's spec, checked to its leaves: a malformed one is refused naming the field. */
  spec: buildSpecSchema(),
  /**
   * The build's registry credentials (docker config JSON for pull and push), sealed for the
   * runners with `sealCredentials`. They ride only on the work-queue message, which is deleted
   * when a runner acks it; they are never stored on the build.
   */
  sealedCredentials: z.string().min(1).optional(),
});
export type BuildDispatchedV2 = z.output<typeof BuildDispatchedV2>;

/** A build moved to a new phase. Key: build id. */
export const BuildStatusChangedV1 = z.object({
  v: z.literal(1),
  buildId: z.string(),
  namespace: z.string(),
  name: z.string(),
  phase: z.enum(buildPhases),
  /** Delivery attempt of the dispatch that produced this status (1 = first runner). */
  attempt: z.number().int().min(0),
  reason: z.enum(Object.values(FailureReason) as [FailureReason, ...FailureReason[]]).optional(),
  message: z.string().optional(),
  at: z.string(),
  output: z
    .object({
      image: z.string(),
      digest: z.string(),
      imageReference: z.string(),
      size: z.number().int().min(0).optional(),
    })
    .optional(),
  /** The source revision the build used, once known. */
  revision: buildRevisionSchema.optional(),
  /** The last lines of the log, kept on the build when it fails. */
  logSnippet: z.string().optional(),
});
export type BuildStatusChangedV1 = z.output<typeof BuildStatusChangedV1>;

/** Lines a build printed, in order (`seq` counts per attempt). Key: build id. */
export const BuildLogAppendedV1 = z.object({
  v: z.literal(1),
  buildId: z.string(),
  attempt: z.number().int().min(0),
  seq: z.number().int().min(0),
  lines: z.array(z.string()),
  at: z.string(),
});
export type BuildLogAppendedV1 = z.output<typeof BuildLogAppendedV1>;

/**
 * An ImageStream tag points at a new digest (a build pushed it, the registry said so, an import
 * saw it, a user tagged it). Key: `imageChangeKey(namespace, imageStream, tag)`.
 */
export const ImageChangedV1 = z.object({
  v: z.literal(1),
  namespace: z.string(),
  imageStream: z.string(),
  tag: z.string(),
  /** `sha256:…` */
  digest: z.string(),
  /** `registry/namespace/name@sha256:…`: what builds and deployments use. */
  imageReference: z.string(),
  previousDigest: z.string().optional(),
  cause: z.object({
    type: z.enum(["Build", "RegistryPush", "Import", "Tag"]),
    /** The build that pushed it (`NAME-N`), for `Build`. */
    build: z.string().optional(),
    message: z.string().optional(),
  }),
  at: z.string(),
  /**
   * The ImageStream tag history item this change recorded (`image_stream_tags.id`). Optional, so
   * V1 messages without it stay valid; the deployer uses it to tell a stale redelivery (a newer
   * item exists) from the newest change.
   */
  itemId: z.string().optional(),
});
export type ImageChangedV1 = z.output<typeof ImageChangedV1>;

/** A NATS subject token for an ImageStream tag (names may hold dots, which NATS uses as separators). */
export function imageChangeKey(namespace: string, imageStream: string, tag: string): string {
  return `${namespace}_${imageStream}_${tag}`.replace(/[.*>\s]/g, "-");
}

/** A user asked to cancel a build. Key: build id. */
export const BuildCancelRequestedV1 = z.object({
  v: z.literal(1),
  buildId: z.string(),
  namespace: z.string(),
  name: z.string(),
  requestedAt: z.string(),
});
export type BuildCancelRequestedV1 = z.output<typeof BuildCancelRequestedV1>;

/** Where a deploy went: a Kubernetes workload (and the containers it set), or a generic HTTP target. */
export const DeployTargetV1 = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("Kubernetes"),
    kind: z.enum(workloadKinds),
    namespace: z.string(),
    name: z.string(),
    containers: z.array(z.string()).default([]),
  }),
  z.object({ type: z.literal("HTTP"), url: z.string() }),
]);
export type DeployTargetV1 = z.output<typeof DeployTargetV1>;

/**
 * A deploy (one image change rolled out to one target) moved to a new phase. Key: deploy id.
 * Published by the deployer with `Nats-Msg-Id` `<deployId>:<phase>`.
 */
export const DeployStatusChangedV1 = z.object({
  v: z.literal(1),
  deployId: z.string(),
  /** The namespace the deploy is listed under (the workload's; the image's for an HTTP target). */
  namespace: z.string(),
  target: DeployTargetV1,
  /** `namespace/imagestream:tag` the target follows; absent when the trigger annotation could not be read. */
  imageStreamTag: z.string().optional(),
  digest: z.string().optional(),
  imageReference: z.string().optional(),
  phase: z.enum(deployPhases),
  reason: z.enum(deployReasons).optional(),
  message: z.string().optional(),
  /** What made the deploy: the image change (its cause type and build), or `Annotated` for a workload that just got its trigger. */
  cause: z.object({
    type: z.string(),
    build: z.string().optional(),
    message: z.string().optional(),
  }),
  at: z.string(),
});
export type DeployStatusChangedV1 = z.output<typeof DeployStatusChangedV1>;
