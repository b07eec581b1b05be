/**
 * Process plumbing shared by every service: config parsing, logging, shutdown, health, metrics,
 * the backoff of retries, and running commands.
 */
export { backoffMs } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export {
  checkRegistryCredentials,
  ConfigError,
  env,
  headersWithinRequest,
  loadConfig,
  metricsPortApart,
  parseDuration,
  registryCredentialsOf,
  registryCredentialsShape,
} from "./config.js";
export {
  HealthChecks,
  healthStatusCode,
  ServiceHealth,
  unavailableRetryAfterSeconds,
} from "./health.js";
export type { HealthCheck, HealthChecksOptions, HealthReport } from "./health.js";
export { HealthServer } from "./health-server.js";
export type { HealthServerOptions } from "./health-server.js";
export { fastifyTimeoutOptions } from "./http-timeouts.js";
export type { HttpTimeouts } from "./http-timeouts.js";
export { BuildMetrics, StepMetrics } from "./metrics/builds.js";
export type { BuildSample } from "./metrics/builds.js";
export { ConsumerLag } from "./metrics/consumer-lag.js";
export type { ConsumerLagOptions } from "./metrics/consumer-lag.js";
export { DeployMetrics, ImageMetrics, WebhookMetrics } from "./metrics/events.js";
export { createMetricsRegistry } from "./metrics/registry.js";
export type { MetricsRegistry } from "./metrics/registry.js";
export { createLogger, redactUrl, redactedPaths } from "./logger.js";
export type { CreateLoggerOptions, Logger } from "./logger.js";
export { CommandFailedError, descendantPids, runChecked, runCommand } from "./run-command.js";
export type { CommandResult, RunCommandOptions } from "./run-command.js";
export { defaultShutdownGraceMs, Shutdown } from "./shutdown.js";
export type { ShutdownOptions } from "./shutdown.js";
export { baseConfigShape, baseSecretKeys, configJsonSchema, runService } from "./service.js";
export type { ServiceContext } from "./service.js";
