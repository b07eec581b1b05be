import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type {
  BuildConfigSpec,
  BuildOutputStatus,
  BuildRevision,
  BuildSpec,
  BuilderTemplateSpec,
  CommitStatusReport,
  ImageStreamGrantSpec,
  ImageStreamSpec,
  ObjectMeta,
  RoleBinding,
  SecretSpec,
} from "@kiln/domain";

type StoredMeta = Pick<ObjectMeta, "labels" | "annotations">;

/** BuildConfigs. `last_version` numbers builds (`<name>-<n>`); bumped in the transaction that inserts a build. */
export const buildConfigs = pgTable(
  "build_configs",
  {
    uid: uuid("uid")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<BuildConfigSpec>().notNull(),
    /** Optimistic concurrency: bumped on every change of spec or meta. */
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    lastVersion: integer("last_version").notNull().default(0),
    /** ImageChange triggers: `namespace/imagestream:tag` → the last digest that started a build (lastTriggeredImageID). */
    imageTriggers: jsonb("image_triggers").$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("build_configs_namespace_name").on(t.namespace, t.name)],
);

export const imageStreams = pgTable(
  "image_streams",
  {
    uid: uuid("uid")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<ImageStreamSpec>().notNull(),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("image_streams_namespace_name").on(t.namespace, t.name)],
);

/**
 * Secrets: registry credentials (docker config JSON, read by the scheduler when it dispatches a
 * build) and Opaque ones (read by the webhook receiver for a trigger's `secretReference`).
 */
export const secrets = pgTable(
  "secrets",
  {
    uid: uuid("uid")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<SecretSpec>().notNull(),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("secrets_namespace_name").on(t.namespace, t.name)],
);

/**
 * ImageStreamGrants, in the granting namespace: which other namespace's BuildConfigs may pull
 * from or push to this namespace's ImageStreams. Read at apply, at dispatch and by the
 * ImageChange planner.
 */
export const imageStreamGrants = pgTable(
  "image_stream_grants",
  {
    uid: uuid("uid")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<ImageStreamGrantSpec>().notNull(),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("image_stream_grants_namespace_name").on(t.namespace, t.name)],
);

/**
 * BuilderTemplates: the builder images `kiln new-build` picks from by a repository's files. Those
 * of the `openshift` namespace are every namespace's (sharedTemplatesNamespace).
 */
export const builderTemplates = pgTable(
  "builder_templates",
  {
    uid: uuid("uid")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<BuilderTemplateSpec>().notNull(),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("builder_templates_namespace_name").on(t.namespace, t.name)],
);

/**
 * API tokens of `kiln create token`, each with a role per namespace. Only the SHA-256 of a
 * token is kept: the token is 256 random bits, so no one can guess it from its hash and a slow
 * password hash would buy nothing but a slower request. The bootstrap token (API_TOKEN) is not here.
 */
export const apiTokens = pgTable(
  "api_tokens",
  {
    name: text("name").primaryKey(),
    /** Lowercase hex SHA-256 of the token: what a request's bearer token is looked up by. */
    tokenSha256: text("token_sha256").notNull(),
    roles: jsonb("roles").$type<RoleBinding[]>().notNull(),
    /** The name of the token that created it (`bootstrap` for API_TOKEN). */
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("api_tokens_token_sha256").on(t.tokenSha256)],
);

export const builds = pgTable(
  "builds",
  {
    id: uuid("id")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    buildConfig: text("build_config").notNull(),
    number: integer("number").notNull(),
    phase: text("phase").notNull(),
    /** One-word FailureReason when the build did not complete. */
    reason: text("reason"),
    message: text("message"),
    spec: jsonb("spec").$type<BuildSpec>().notNull(),
    /** The request that made this build: a redelivered request finds it instead of making another. */
    requestId: text("request_id").notNull(),
    output: jsonb("output").$type<BuildOutputStatus>(),
    logSnippet: text("log_snippet"),
    /** The commit actually built (with author, date, message), once the runner fetched the source. */
    revision: jsonb("revision").$type<BuildRevision>(),
    /** What the webhook-receiver last reported on the build's commit to its git host (never a token). */
    commitStatus: jsonb("commit_status").$type<CommitStatusReport>(),
    /** Highest dispatch attempt a status was recorded for. */
    attempt: integer("attempt").notNull().default(0),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("builds_namespace_name").on(t.namespace, t.name),
    uniqueIndex("builds_request_id").on(t.requestId),
    index("builds_namespace_build_config_number").on(t.namespace, t.buildConfig, t.number),
  ],
);

/**
 * ImageStream tag history: one row per digest a tag moved to, newest first by `created_at`.
 * The newest row of a tag is its current image. Written only by the image-watcher (and the
 * api's `imagestreamtags` route for `kiln tag`).
 */
export const imageStreamTags = pgTable(
  "image_stream_tags",
  {
    id: uuid("id")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    imageStream: text("image_stream").notNull(),
    tag: text("tag").notNull(),
    /** `sha256:…` */
    digest: text("digest").notNull(),
    /** `registry/repo@sha256:…` */
    imageReference: text("image_reference").notNull(),
    /** `Build`, `RegistryPush`, `Import` or `Tag` (ImageChangedV1's cause types). */
    causeType: text("cause_type").notNull(),
    /** The build that pushed it (`NAME-N`), for cause `Build`. */
    buildName: text("build_name"),
    causeMessage: text("cause_message"),
    /** The ImageStream's resourceVersion when the item was recorded (OpenShift's `generation`). */
    generation: bigint("generation", { mode: "number" }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("image_stream_tags_namespace_stream_tag_created").on(
      t.namespace,
      t.imageStream,
      t.tag,
      t.createdAt,
    ),
  ],
);

/**
 * Registry notification events already handled, by source and event id (distribution's
 * `events[].id`, Harbor's CloudEvents id, …): a redelivered notification changes nothing.
 */
export const registryNotificationEvents = pgTable(
  "registry_notification_events",
  {
    source: text("source").notNull(),
    eventId: text("event_id").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("registry_notification_events_source_event_id").on(t.source, t.eventId)],
);

/**
 * Every git webhook request the receiver answered for a BuildConfig URL: accepted ones with their
 * outcome (`build-requested` or `skipped` with the reason) and rejected ones (bad secret or
 * signature, bad payload; nothing from their body is trusted or stored but the headers' delivery id).
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: uuid("id")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    /** `github`, `gitlab`, `gitea`, `gogs`, `bitbucket`, `bitbucket-server`, `generic`. */
    provider: text("provider").notNull(),
    /** The sender's delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`, …). */
    deliveryId: text("delivery_id"),
    namespace: text("namespace").notNull(),
    buildConfig: text("build_config").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    /** `build-requested`, `skipped` or `rejected`. */
    outcome: text("outcome").notNull(),
    /** One PascalCase word: why it was skipped or rejected (`RefMismatch`, `BranchDeleted`, `Unauthorized`, …). */
    reason: text("reason"),
    message: text("message"),
    /** `git-<provider>-<deliveryId>`: joins `builds.request_id`. */
    requestId: text("request_id"),
    commit: text("commit"),
    ref: text("ref"),
    /** When `build.requested` was acknowledged by JetStream; null until then (a redelivery publishes again). */
    publishedAt: timestamp("published_at", { withTimezone: true }),
  },
  (t) => [
    // Rejected requests are not deduplicated: an unsigned request must not claim a delivery id
    // that the real, signed delivery will carry.
    uniqueIndex("webhook_deliveries_provider_delivery_id")
      .on(t.provider, t.deliveryId)
      .where(sql`outcome <> 'rejected'`),
    index("webhook_deliveries_namespace_build_config_received").on(
      t.namespace,
      t.buildConfig,
      t.receivedAt,
    ),
    // The webhook-receiver's retention sweep deletes the oldest rows, a batch at a time.
    index("webhook_deliveries_received").on(t.receivedAt),
  ],
);

/**
 * Webhook requests that were refused and counted rather than stored: one row per hour, reason
 * and provider. What arrives for a BuildConfig that does not exist is anyone's to make up
 * (namespace, name, delivery id), so it costs a counter, never a row of its own; the hour and
 * the provider tell a stale webhook on a git host from a scan.
 */
export const webhookRefusalCounts = pgTable(
  "webhook_refusal_counts",
  {
    /** Start of the hour (UTC) the requests arrived in. */
    hour: timestamp("hour", { withTimezone: true }).notNull(),
    /** One PascalCase word (`UnknownBuildConfig`). */
    reason: text("reason").notNull(),
    /** The webhook type in the URL (`github`, `gitlab`, …). */
    provider: text("provider").notNull(),
    count: bigint("count", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.hour, t.reason, t.provider] })],
);

/**
 * Deploys: one image change rolled out to one target (a Kubernetes workload or a generic HTTP
 * target), with its status and cause (`kiln get deploys`). Written only by the deployer.
 * `key` is the natural key (`<target>:<ns/is:tag>@<digest>`, or the annotation's hash for a
 * malformed one), so a redelivered image change finds its deploy instead of making another.
 */
export const deploys = pgTable(
  "deploys",
  {
    id: uuid("id")
      .primaryKey()
      .default(sql`gen_random_uuid()`),
    key: text("key").notNull(),
    /** Where it is listed: the workload's namespace, or the image's for an HTTP target. */
    namespace: text("namespace").notNull(),
    /** `Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, or `HTTP`. */
    targetKind: text("target_kind").notNull(),
    /** The workload's namespace and name; null for an HTTP target. */
    targetNamespace: text("target_namespace"),
    targetName: text("target_name"),
    /** Names of the containers the deploy sets (`containers/web`, `initContainers/migrate`). */
    targetContainers: jsonb("target_containers").$type<string[]>().notNull().default([]),
    /** The HTTP target's URL; null for a workload. */
    targetUrl: text("target_url"),
    /** `namespace/imagestream:tag`; null when the trigger annotation could not be read. */
    imageStreamTag: text("image_stream_tag"),
    digest: text("digest"),
    imageReference: text("image_reference"),
    /** What the containers ran before (the first changed container's image). */
    previousImage: text("previous_image"),
    /** `Build`, `RegistryPush`, `Import`, `Tag` (the image change's), or `Annotated`. */
    causeType: text("cause_type").notNull(),
    causeBuild: text("cause_build"),
    causeMessage: text("cause_message"),
    /** DeployPhase: Pending, Rolling, Complete, Failed, Skipped, Cancelled. */
    status: text("status").notNull(),
    /** One-word DeployReason for Failed, Skipped and Cancelled. */
    reason: text("reason"),
    message: text("message"),
    /** Patch (or POST) attempts made, 409 retries included. */
    attempts: integer("attempts").notNull().default(0),
    /** The workload generation the patch made: its rollout is followed to it. */
    generation: bigint("generation", { mode: "number" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** When the target was changed (patched, or the POST was first sent). */
    startedAt: timestamp("started_at", { withTimezone: true }),
    completedAt: timestamp("completed_at", { withTimezone: true }),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("deploys_key").on(t.key),
    index("deploys_namespace_created").on(t.namespace, t.createdAt),
    index("deploys_status").on(t.status),
  ],
);
