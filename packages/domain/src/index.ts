/**
 * Kiln's domain: resources (BuildConfig, ImageStream, Build), their validation, the build phase
 * state machine, the failure-reason catalogue, and who may do what (roles, ImageStreamGrants). Imports no I/O library, so it is tested
 * without servers.
 */
export { assertNever } from "./assert-never.js";
export { BuildPhase, buildPhases, canTransition, isTerminalPhase } from "./build-phase.js";
export type { PhaseAtAttempt } from "./build-phase.js";
export { FailureReason } from "./failure-reason.js";
export {
  BuildFailure,
  ConflictError,
  FieldPathNotFoundError,
  ForbiddenError,
  KilnError,
  NotFoundError,
  TriggerAnnotationError,
  ValidationError,
} from "./errors.js";
export type { FieldIssue } from "./errors.js";
export {
  buildName,
  defaultNamespace,
  imageStreamNameIssue,
  imageTagPattern,
  maxBuildConfigNameLength,
  maxImageNameLength,
  maxNamespaceLength,
  maxSubdomainLength,
  namespaceName,
  parseBuildName,
  resourceNamePattern,
  namespacePattern,
  subdomainName,
} from "./names.js";
export {
  busMaxPayloadBytes,
  formatBytes,
  formatCount,
  jsonBytes,
  maxBuildSpecBytes,
  maxBuildsHistoryLimit,
  maxCompletionDeadlineSeconds,
  maxDockerConfigJsonBytes,
} from "./resources/limits.js";
export {
  RunPolicy,
  StrategyType,
  TriggerType,
  buildConfigSpecSchema,
} from "./resources/build-config.js";
export type {
  BuildConfigSpec,
  BuildOutput,
  BuildSource,
  BuildStrategy,
  BuildTrigger,
} from "./resources/build-config.js";
export { imageStreamSpecSchema } from "./resources/image-stream.js";
export {
  defaultStatusTokenKey,
  GitHostProvider,
  resolveStatusTarget,
  statusContext,
} from "./resources/status-reporting.js";
export type {
  CommitStatusReport,
  StatusReporting,
  StatusTarget,
} from "./resources/status-reporting.js";
export {
  hasPostCommitHook,
  postCommitArgv,
  postCommitEnv,
  renderPostCommitDockerfile,
} from "./resources/post-commit.js";
export type { HookImage, PostCommitHook } from "./resources/post-commit.js";
export {
  nodeSelectorSchema,
  parseQuantity,
  resourceRequirementsSchema,
} from "./resources/pod-placement.js";
export type { ResourceRequirements } from "./resources/pod-placement.js";
export type { ImageStreamSpec } from "./resources/image-stream.js";
export { envName } from "./resources/common.js";
export type { EnvVar, ImageReference, ObjectMeta, SecretKeySelector } from "./resources/common.js";
export {
  issuesFromZod,
  kilnApiVersion,
  parseResource,
  parseResources,
  parseResourcesWithWarnings,
} from "./resources/parse.js";
export type {
  BuildConfigResource,
  ImageStreamGrantResource,
  ImageStreamResource,
  Resource,
  ResourceKind,
  SecretResource,
} from "./resources/parse.js";
export { ImageAccess, imageStreamGrantSpecSchema } from "./resources/image-stream-grant.js";
export type { ImageStreamGrantSpec } from "./resources/image-stream-grant.js";
export {
  AccessResource,
  authorize,
  describeSubject,
  inPermitted,
  isAllowed,
  permittedNamespaces,
  refusal,
  Role,
  roleIn,
  Verb,
} from "./access/roles.js";
export type { AccessRequest, RoleBinding, Subject } from "./access/roles.js";
export {
  authorizeTokenCreation,
  authorizeTokenDeletion,
  bootstrapSubjectName,
  TokenRequest,
  visibleToken,
} from "./access/tokens.js";
export type { TokenInfo } from "./access/tokens.js";
export { accessResourceOf, authorizeApply, authorizeImageUses } from "./access/apply.js";
export {
  deniedUses,
  describeDeniedUse,
  imageStreamUses,
  isGranted,
  mayFollowTag,
} from "./access/image-access.js";
export type { ImageStreamGrantRule, ImageStreamUse } from "./access/image-access.js";
export { SecretType, webhookSecretKey } from "./resources/secret.js";
export { secretEnvRefs, withSecretEnv } from "./resources/secret-env.js";
export { buildahReservedEnvName } from "./resources/buildah-env.js";
export type { SecretEnvRef, SecretEnvValues } from "./resources/secret-env.js";
export type {
  DockerConfigJsonSecretSpec,
  OpaqueSecretSpec,
  SecretSpec,
} from "./resources/secret.js";
export {
  binaryInputSchema,
  buildCauseSchema,
  buildRevisionSchema,
  buildSpecFor,
  buildSpecSchema,
  buildSpecSizeIssue,
  imageReferenceByDigest,
  newBuildSizeIssue,
  planNextBuild,
  resolveBuildImages,
  resolveImageReference,
  resolveOutputImage,
} from "./resources/build.js";
export type {
  BinaryInput,
  BuildCause,
  BuildOutputStatus,
  BuildRecord,
  BuildRevision,
  BuildSpec,
  NewBuildSpec,
  PinnedImages,
  PlannedBuild,
} from "./resources/build.js";
export { BuildStep } from "./engine-port.js";
export type { BuildEngine, BuildJob, BuildLogSink } from "./engine-port.js";
export {
  S2IContextDir,
  S2ILabel,
  S2IScript,
  UidRangeError,
  defaultScriptsUrl,
  formatUidRanges,
  imageEnv,
  isUserAllowed,
  parseS2IEnvironment,
  parseS2IIgnore,
  parseUidRanges,
  planS2IBuild,
  s2iIgnoreFile,
  s2iScripts,
  scriptsNotFoundMarker,
  sourceEnvironmentFiles,
  sourceScriptDirs,
} from "./s2i/index.js";
export type {
  ImageConfig,
  S2IIgnore,
  S2IPlan,
  S2IPlanInput,
  S2IRuntimePlan,
  ScriptSource,
  UidRange,
} from "./s2i/index.js";
export { planDispatch } from "./run-policy.js";
export type { DispatchPlan, QueuedBuild } from "./run-policy.js";
export { imageChangeInputs, imageStreamTagKey } from "./image-triggers.js";
export type { ImageChangeInput } from "./image-triggers.js";
export { configChangeBuildRequests, configChangeCause } from "./config-change-trigger.js";
export { planImageTriggeredBuilds } from "./image-change-plan.js";
export type {
  CascadeState,
  ImageChangePlan,
  PlannedImageBuild,
  TagImage,
  TriggeredBuildConfig,
} from "./image-change-plan.js";
export { BuildGraph, outputTagKey } from "./build-graph.js";
export type { GraphBuildConfig } from "./build-graph.js";
export {
  DeployPhase,
  DeployReason,
  deployPhases,
  deployReasons,
  isTerminalDeployPhase,
} from "./deploy/deploy-phase.js";
export { parseFieldPath } from "./deploy/field-path.js";
export type { ContainerFieldPath } from "./deploy/field-path.js";
export { planImageUpdate } from "./deploy/image-update.js";
export type { ContainerImageChange, ImageUpdatePlan } from "./deploy/image-update.js";
export { rolloutState } from "./deploy/rollout.js";
export type { RolloutState } from "./deploy/rollout.js";
export { parseTriggerAnnotation, TriggerAnnotation } from "./deploy/triggers.js";
export type { ParsedTriggers, WorkloadTrigger } from "./deploy/triggers.js";
export {
  podSpecOf,
  podSpecPath,
  WorkloadKind,
  workloadKey,
  workloadKinds,
} from "./deploy/workload.js";
export type { ContainerLike, WorkloadObject } from "./deploy/workload.js";
export {
  builderTemplateSpecSchema,
  sharedTemplatesNamespace,
} from "./resources/builder-template.js";
export type { BuilderTemplateSpec, BuilderTemplateVersion } from "./resources/builder-template.js";
export type { BuilderTemplateResource } from "./resources/parse.js";
