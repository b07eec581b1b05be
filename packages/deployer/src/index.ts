/**
 * The deployer's parts: it rolls every consumer of an ImageStream tag to the tag's new digest.
 * Kubernetes workloads (Deployment, StatefulSet, DaemonSet, CronJob) annotated with
 * `kiln.dev/triggers` or `image.openshift.io/triggers` are watched, patched (strategic merge, a 409
 * re-read and retried) and followed to the end of their rollout; generic HTTP targets get a signed
 * POST. Every deploy is recorded (`deploys`, `deploy.status-changed`). No I/O at import.
 */
export { Deployer } from "./deployer.js";
export type { DeployerOptions } from "./deployer.js";
export { DeployRecorder } from "./deploy-recorder.js";
export type { DeployRecorderOptions } from "./deploy-recorder.js";
export {
  ConflictRetriesExhaustedError,
  KubeRequestError,
  NamespaceNotWatchedError,
  NotSyncedError,
} from "./errors.js";
export { displayUrl, HttpDeployTargets, signatureHeader, signBody } from "./http-targets.js";
export type { HttpTargetsOptions } from "./http-targets.js";
export { KubeWorkloadApi } from "./kube-api.js";
export type { WatchEvent } from "./kube-api.js";
export { KubernetesDeployer } from "./kubernetes-deployer.js";
export type { KubernetesDeployerOptions } from "./kubernetes-deployer.js";
