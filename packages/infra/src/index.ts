/**
 * @kiln/infra — the real local infrastructure (NATS with JetStream, PostgreSQL, a CNCF
 * distribution registry) started as child processes on loopback under a state directory,
 * plus the process plumbing `kiln up` uses to run the services. Used by `kiln up` and by
 * the integration-test fixtures in `@kiln/testing`. Nothing here does I/O at import time.
 */
export { findBinaries } from "./binaries.js";
export type { BinaryName, Binaries, FindBinariesOptions } from "./binaries.js";
export {
  InfraError,
  InfraErrorReason,
  MissingDependencyError,
  PortInUseError,
  ProcessKeepsFailingError,
  StartupFailedError,
} from "./errors.js";
export type { BusyPort, MissingDependency } from "./errors.js";
export { infrastructureStarts, startInfrastructure } from "./infrastructure.js";
export type {
  Infrastructure,
  InfrastructureStarts,
  StartInfrastructureOptions,
} from "./infrastructure.js";
export { describeExit, ManagedProcess } from "./managed-process.js";
export type { ManagedProcessOptions, ProcessExit, StopOptions } from "./managed-process.js";
export { startNats } from "./nats.js";
export type { NatsServer, NatsServerUser, StartNatsOptions } from "./nats.js";
export { DefaultPorts, assertPortFree, assertPortsFree, freePort, isPortFree } from "./ports.js";
export type { PortCheck, PortCheckOptions } from "./ports.js";
export { createKilnDatabase, startPostgres } from "./postgres.js";
export type { PostgresServer, StartPostgresOptions } from "./postgres.js";
export { registryConfig, startRegistry } from "./registry.js";
export type { RegistryServer, RegistryTokenAuth, StartRegistryOptions } from "./registry.js";
export { spawnService, tsxLoaderUrl } from "./service-process.js";
export type { SpawnServiceOptions } from "./service-process.js";
export {
  buildahArgs,
  buildBusyboxImage,
  busyboxApplets,
  removeBuildahStore,
} from "./base-image.js";
export type { BuildBusyboxImageOptions, BuiltImage } from "./base-image.js";
export {
  kilnServiceEnv,
  kilnServiceLogFile,
  kilnServiceNames,
  kilnServiceStopTimeoutMs,
  kilnStopOrder,
  prepareKilnServiceDirs,
  startKilnService,
  startKilnServices,
} from "./kiln-services.js";
export type {
  KilnServiceName,
  KilnServicePorts,
  KilnServices,
  StartKilnServicesOptions,
} from "./kiln-services.js";
export { RestartPolicy } from "./restart-policy.js";
export type { RestartDecision, RestartPolicyOptions } from "./restart-policy.js";
export { Supervisor } from "./supervisor.js";
export type { SupervisedProcessSpec, SupervisorEvent, SupervisorOptions } from "./supervisor.js";
export {
  readSupervisorStatus,
  SupervisedState,
  supervisorRunning,
  supervisorStatusFile,
} from "./supervisor-status.js";
export type { SupervisedProcessStatus, SupervisorStatus } from "./supervisor-status.js";
