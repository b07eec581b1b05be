/**
 * The stand-in Kubernetes API server (NOT Kubernetes; see ./README.md) and its test-side
 * controllers. A subpath of its own (`@kiln/testing/kube`) because it imports no vitest: the
 * benchmarks use it outside a test run.
 */
export { StandInApiServer } from "./stand-in-api-server.js";
export type {
  ChangeSource,
  Fault,
  ObjectHook,
  RecordedRequest,
  StandInApiServerOptions,
  WatchEventType,
} from "./stand-in-api-server.js";
export {
  enableRolloutController,
  podFromJob,
  RolloutBehaviour,
  rolloutStatus,
} from "./controllers.js";
export type { RolloutControllerOptions } from "./controllers.js";
export { defaultRbacObjects, StandInRbac } from "./rbac.js";
export type { Decision, ResourceAttributes, UserInfo } from "./rbac.js";
export { KubeApiError } from "./status.js";
export type { KubeStatus, StatusReason } from "./status.js";
export type { KubeObject, KubeObjectMeta } from "./resources.js";
