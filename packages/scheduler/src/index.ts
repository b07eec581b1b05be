/** The scheduler's work: numbering and dispatching builds, recording their status. */
export { BuildScheduler } from "./build-scheduler.js";
export type { BuildSchedulerOptions } from "./build-scheduler.js";
export { createBuildForRequest } from "./build-creation.js";
