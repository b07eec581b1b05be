import { sql } from "drizzle-orm";
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import type { BuildConfigSpec, BuildOutputStatus, BuildRevision, BuildSpec, ImageStreamSpec, ObjectMeta, SecretSpec } from "@kiln/domain";

type StoredMeta = Pick<ObjectMeta, "labels" | "annotations">;

/** BuildConfigs. `last_version` numbers builds (`<name>-<n>`); bumped in the transaction that inserts a build. */
export const buildConfigs = pgTable(
  "build_configs",
  {
    uid: uuid("uid").primaryKey().default(sql`gen_random_uuid()`),
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    meta: jsonb("meta").$type<StoredMeta>().notNull().default({}),
    spec: jsonb("spec").$type<BuildConfigSpec>().notNull(),
    /** Optimistic concurrency: bumped on every change of spec or meta. */
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(1),
    lastVersion: integer("last_version").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("build_configs_namespace_name").on(t.namespace, t.name)],
);

export const imageStreams = pgTable(
  "image_streams",
  {
    uid: uuid("uid").primaryKey().default(sql`gen_random_uuid()`),
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

/** Registry credentials (docker config JSON). Read only by the scheduler when it dispatches a build. */
export const secrets = pgTable(
  "secrets",
  {
    uid: uuid("uid").primaryKey().default(sql`gen_random_uuid()`),
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

export const builds = pgTable(
  "builds",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
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
