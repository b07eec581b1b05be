/** Kiln's PostgreSQL state: the drizzle schema, migrations and the queries services share. */
export { createDatabase, migrationsFolder, runMigrations } from "./client.js";
export type { Database, Db, DbOrTx, Tx } from "./client.js";
export {
  applyBuildStatus,
  createBuildForRequest,
  findBuildByRequestId,
  getBuild,
  getBuildById,
  listBuilds,
  pruneBuildHistory,
  withBuildQueue,
  toBuildJson,
} from "./builds.js";
export type { BuildStatusUpdate, NewBuildRequest } from "./builds.js";
export { applyResources, deleteResource, getResource, listResources, toResourceJson } from "./resources.js";
export type { ApplyAction, ApplyResult, ResourceJsonOptions } from "./resources.js";
export { buildConfigs, builds, imageStreams, secrets } from "./schema.js";
