/** The api service's HTTP surface (docs/api.md). */
export { createApiServer, defaultApiTimeouts } from "./server.js";
export type { ApiServer, ApiServerOptions } from "./server.js";
export { tokenMatches } from "./auth.js";
export { KubernetesDelegation, KubernetesReviewError } from "./kubernetes-delegation.js";
export type { KubernetesDelegationOptions } from "./kubernetes-delegation.js";
export { toHttpError } from "./errors.js";
export type { ErrorBody } from "./errors.js";
