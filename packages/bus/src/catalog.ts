import type { z } from "zod";
import {
  BuildCancelRequestedV1,
  BuildDispatchedV2,
  BuildLogAppendedV1,
  BuildRequestedV1,
  BuildStatusChangedV1,
  DeployStatusChangedV1,
  ImageChangedV1,
} from "./events.js";

const minute = 60_000;
const day = 24 * 60 * minute;

/**
 * JetStream streams. Names get the bus prefix (`KILN_BUILD_EVENTS`), subjects too
 * (`kiln.build.requested.>`), so a test can run a whole private copy of the bus.
 */
export const streams = {
  /** Facts about builds, kept a week for `kiln describe` and replays. */
  BUILD_EVENTS: {
    subjects: ["build.requested.>", "build.status-changed.>", "build.cancel-requested.>"],
    retention: "limits",
    maxAgeMs: 7 * day,
    duplicateWindowMs: 2 * minute,
  },
  /** Work queue: each dispatched build is removed once a runner acks it. */
  BUILD_DISPATCH: {
    subjects: ["build.dispatched.>"],
    retention: "workqueue",
    maxAgeMs: 7 * day,
    duplicateWindowMs: 2 * minute,
  },
  /** Facts about images: ImageStream tags moving to new digests. */
  IMAGE_EVENTS: {
    subjects: ["image.>"],
    retention: "limits",
    maxAgeMs: 7 * day,
    duplicateWindowMs: 2 * minute,
  },
  /** Facts about deploys: an image change rolled out to a workload or an HTTP target (`kiln get deploys`). */
  DEPLOY_EVENTS: {
    subjects: ["deploy.>"],
    retention: "limits",
    maxAgeMs: 7 * day,
    duplicateWindowMs: 2 * minute,
  },
  /** Build logs; what `kiln logs` reads, during and after a build, across restarts. */
  BUILD_LOGS: {
    subjects: ["build.log-appended.>"],
    retention: "limits",
    maxAgeMs: 30 * day,
    duplicateWindowMs: 2 * minute,
  },
} as const;
export type StreamKey = keyof typeof streams;

/**
 * JetStream object stores (bucket `<PREFIX>_<KEY>`), created with the streams. They hold bytes
 * too big for a message; a message carries only the object's name.
 */
export const objectStores = {
  /**
   * Uploaded binary-build inputs, named by request id. The runner deletes one once its build
   * has ended; the TTL removes those whose build never ran or whose runner died before that.
   */
  BUILD_INPUTS: { maxAgeMs: 7 * day },
} as const;
export type ObjectStoreKey = keyof typeof objectStores;

/**
 * Every event type: its schema, the stream that stores it, and what its key is (the log field
 * the key is written under, so every line about a build carries `buildId`).
 * The subject is `<prefix>.<type>.<key>`.
 */
export const events = {
  "build.requested": { schema: BuildRequestedV1, stream: "BUILD_EVENTS", key: "requestId" },
  "build.dispatched": { schema: BuildDispatchedV2, stream: "BUILD_DISPATCH", key: "buildId" },
  "build.status-changed": { schema: BuildStatusChangedV1, stream: "BUILD_EVENTS", key: "buildId" },
  "build.log-appended": { schema: BuildLogAppendedV1, stream: "BUILD_LOGS", key: "buildId" },
  "build.cancel-requested": {
    schema: BuildCancelRequestedV1,
    stream: "BUILD_EVENTS",
    key: "buildId",
  },
  "image.changed": { schema: ImageChangedV1, stream: "IMAGE_EVENTS", key: "imageTag" },
  "deploy.status-changed": {
    schema: DeployStatusChangedV1,
    stream: "DEPLOY_EVENTS",
    key: "deployId",
  },
} as const satisfies Record<
  string,
  { schema: z.ZodType; stream: StreamKey; key: "buildId" | "requestId" | "imageTag" | "deployId" }
>;
export type EventType = keyof typeof events;
export type EventPayload<T extends EventType> = z.output<(typeof events)[T]["schema"]>;
export type EventInput<T extends EventType> = z.input<(typeof events)[T]["schema"]>;

/**
 * Durable consumers. `ackWaitMs` is how long a delivery may go without an ack or a `working()`
 * heartbeat before JetStream redelivers it; `maxDeliver` bounds poison messages.
 */
export const consumers = {
  "scheduler-build-requested": { event: "build.requested", ackWaitMs: 30_000, maxDeliver: 20 },
  "scheduler-build-status": { event: "build.status-changed", ackWaitMs: 30_000, maxDeliver: 20 },
  "scheduler-build-cancel": { event: "build.cancel-requested", ackWaitMs: 30_000, maxDeliver: 20 },
  /** A build heartbeats every ackWait/3, so a dead runner's build is redelivered within 30 s. */
  "build-runner-dispatched": { event: "build.dispatched", ackWaitMs: 30_000, maxDeliver: 3 },
  /** ImageChange triggers: an ImageStream tag moved, which BuildConfigs follow it? */
  "scheduler-image-changed": { event: "image.changed", ackWaitMs: 30_000, maxDeliver: 20 },
  /** The image-watcher moves an ImageStreamTag output to the digest a completed build pushed. */
  "image-watcher-build-status": {
    event: "build.status-changed",
    ackWaitMs: 30_000,
    maxDeliver: 20,
  },
  /**
   * Redeploys: every workload and HTTP target following the tag gets the new digest. A handler
   * patches and records, then acks; rollouts are followed outside the handler.
   */
  "deployer-image-changed": { event: "image.changed", ackWaitMs: 30_000, maxDeliver: 20 },
  /**
   * Build status on the commit (`statusReporting`): a host that fails is tried again by the nak
   * backoff (0.5 s doubling to 30 s), 10 deliveries in about 2.5 minutes, then the build records
   * `StatusUndelivered`. A report waits at most 10 s for the host, well inside the ack wait.
   */
  "webhook-receiver-build-status": {
    event: "build.status-changed",
    ackWaitMs: 30_000,
    maxDeliver: 10,
  },
} as const satisfies Record<string, { event: EventType; ackWaitMs: number; maxDeliver: number }>;
export type ConsumerName = keyof typeof consumers;
