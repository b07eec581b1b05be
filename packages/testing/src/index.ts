/**
 * @kiln/testing — shared vitest fixtures for integration tests against the real servers
 * (nats, postgres, registry, buildah, git), and small helpers to build test inputs.
 * Nothing here does I/O at import time; servers start when a test first asks for a fixture.
 */
export { freePort } from "@kiln/infra";
export { buildahArgs, buildBusyboxImage, busyboxApplets, removeBuildahStore } from "@kiln/infra";
export type { BuildBusyboxImageOptions, BuiltImage } from "@kiln/infra";
export {
  connectTestBus,
  integrationTest,
  natsAdminOptions,
  registryNotificationToken,
  templateDatabase,
  withAdmin,
} from "./fixtures.js";
export type { BaseImage, TestDatabase, WorkerInfra, WorkerRegistry } from "./fixtures.js";
export { makeGitRepo } from "./git.js";
export type { GitRepo } from "./git.js";
export { randomToken } from "./names.js";
export { buildS2IBuilderImage, s2iBuilderApplets } from "./s2i-images.js";
export type { BuildS2IBuilderImageOptions } from "./s2i-images.js";
export { NotificationRelay } from "./notification-relay.js";
export type { RegistryEvent, RegistryNotification } from "./notification-relay.js";
export { tarBytes } from "./tar-bytes.js";
export { StandInApiServer } from "./kube/stand-in-api-server.js";
export type {
  ChangeSource,
  Fault,
  ObjectHook,
  RecordedRequest,
  StandInApiServerOptions,
  WatchEventType,
} from "./kube/stand-in-api-server.js";
export {
  enableRolloutController,
  podFromJob,
  RolloutBehaviour,
  rolloutStatus,
} from "./kube/controllers.js";
export { LocalKubelet } from "./kube/local-kubelet.js";
export type { LocalKubeletOptions } from "./kube/local-kubelet.js";
export type { RolloutControllerOptions } from "./kube/controllers.js";
export { KubeApiError } from "./kube/status.js";
export type { KubeStatus, StatusReason } from "./kube/status.js";
export type { KubeObject, KubeObjectMeta } from "./kube/resources.js";
export type { TarFixtureEntry } from "./tar-bytes.js";
