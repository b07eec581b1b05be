/**
 * The `kubernetes` build engine: one Job per build, unprivileged buildah in its pod, and the
 * step command the pod's containers run. Nothing here does I/O at import time.
 */
export { KubernetesEngine } from "./kubernetes-engine.js";
export type { KubernetesEngineOptions } from "./kubernetes-engine.js";
export {
  authSecretManifests,
  authSecretNames,
  buildJobManifest,
  buildLabels,
  dockerConfigJsonKey,
  KubeAnnotation,
  KubeLabel,
  PodPath,
  StepEnv,
} from "./job-manifest.js";
export type { JobManifestOptions, ManifestBuild } from "./job-manifest.js";
export { KubeBuildIsolation } from "./job-manifest.js";
export {
  dns1123LabelPattern,
  jobNameFor,
  labelValueFor,
  labelValuePattern,
  randomSuffix,
} from "./names.js";
export {
  ContainerName,
  encodeStepReport,
  parseStepReport,
  StepName,
  terminationMessageLimit,
} from "./termination.js";
export type { StepReport } from "./termination.js";
export { containerStatus, failureOf, jobOutcome, podNotStartingReason } from "./pod-status.js";
export { KubeApiError } from "./errors.js";
export { main as buildStepMain, runBuildStep } from "./build-step.js";
export type { BuildStepOptions } from "./build-step.js";
