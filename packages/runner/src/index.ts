/** The build-runner's work: pull dispatched builds, run them with an engine, report status and logs. */
export { BuildRunner, runnerStopAllowanceMs } from "./build-runner.js";
export type { BuildRunnerOptions } from "./build-runner.js";
export { LogPublisher } from "./log-publisher.js";
export type { LogPublisherOptions } from "./log-publisher.js";
