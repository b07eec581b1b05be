/** Kiln's PostgreSQL state: the drizzle schema, migrations and the queries services share. */
export {
  checkDatabase,
  connectDatabase,
  createDatabase,
  migrationsFolder,
  runMigrations,
} from "./client.js";
export { DatabaseLoginRefusedError } from "./errors.js";
export type { Database, Db, DbOrTx, Tx } from "./client.js";
export {
  applyBuildStatus,
  insertBuild,
  latestBuildOf,
  lockBuildConfig,
  markBuildPending,
  findBuildByRequestId,
  getBuild,
  getBuildById,
  listBuilds,
  pruneBuildHistory,
  withBuildQueue,
  toBuildJson,
} from "./builds.js";
export type { BuildStatusUpdate, BuildQueue, LockedBuildConfig, StoredBuild } from "./builds.js";
export { currentTriggerImages, importedImages } from "./trigger-inputs.js";
export {
  currentTag,
  listAllImageStreams,
  listTagHistory,
  markNotificationSeen,
  notificationSeen,
  recordTagUpdate,
  statusTags,
} from "./image-stream-tags.js";
export type {
  ImageStreamRow,
  ImageStreamTagRow,
  TagCauseType,
  TagUpdate,
  TagUpdateResult,
} from "./image-stream-tags.js";
export {
  applyResources,
  deleteResource,
  getResource,
  listResources,
  toResourceJson,
} from "./resources.js";
export type { ApplyAction, ApplyResult, ResourceJsonOptions } from "./resources.js";
export { listNamespaces } from "./namespaces.js";
export { SecretBox, SecretKeyError } from "./secret-box.js";
export { openBuildConfigSpec, openSecretSpec, openSecretValue, redacted } from "./sealed-specs.js";
export { getWebhookBuildConfig } from "./webhook-secrets.js";
export { recordCommitStatus, withCommitStatusLock } from "./commit-status.js";
export type { WebhookBuildConfig } from "./webhook-secrets.js";
export { resealStoredSecrets } from "./reseal.js";
export {
  buildConfigsOverRejectedCap,
  deleteWebhookDeliveriesOlderThan,
  deleteWebhookRefusalCountsOlderThan,
  listWebhookDeliveries,
  listWebhookRefusalCounts,
  markWebhookDeliveryPublished,
  recordWebhookDelivery,
  recordWebhookDeliveries,
  toWebhookDeliveryJson,
  toWebhookRefusalCountJson,
  trimRejectedWebhookDeliveries,
  WebhookOutcome,
  WebhookRefusalReason,
} from "./webhook-deliveries.js";
export type {
  NewWebhookDelivery,
  WebhookDeliveryRecord,
  WebhookRefusal,
  WebhookRefusalCount,
} from "./webhook-deliveries.js";
export {
  beginDeploy,
  getDeploy,
  isTagItemSuperseded,
  listDeploys,
  listDeploysByStatus,
  toDeployJson,
  updateDeploy,
} from "./deploys.js";
export type { DeployRecord, DeployUpdate, NewDeploy } from "./deploys.js";
export {
  apiTokens,
  buildConfigs,
  builds,
  deploys,
  imageStreamGrants,
  imageStreams,
  imageStreamTags,
  registryNotificationEvents,
  secrets,
  webhookDeliveries,
} from "./schema.js";
export { heldTagImages, listAllBuildConfigs, loadCascadeState } from "./image-triggers.js";
export { listImageStreamGrants } from "./grants.js";
export {
  createApiToken,
  deleteApiToken,
  findApiTokenBySha256,
  getApiToken,
  listApiTokens,
} from "./tokens.js";
export type { NewApiToken } from "./tokens.js";
