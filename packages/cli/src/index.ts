/**
 * @kiln/cli — the `kiln` command line: apply/get/describe/delete resources, start, follow and
 * cancel builds over the REST API (docs/api.md), and `kiln up` to run Kiln on one machine.
 * `buildProgram`/`runCli` take injected stdio, env and cwd so commands run in-process in tests.
 */
export { KilnClient } from "./client.js";
export type { InstantiateRequest, InstantiateResult, KilnClientOptions } from "./client.js";
export {
  ApiError,
  ApiTimeoutError,
  ApiUnreachableError,
  BuildEndedError,
  CliError,
  ConfigError,
  ManifestError,
  UsageError,
} from "./errors.js";
export type { ErrorDetail } from "./errors.js";
export {
  CliConfigSchema,
  defaultApiUrl,
  findEnvFile,
  formatEnvFile,
  loadCliConfig,
  parseEnvFile,
} from "./config.js";
export type { CliConfig, LoadCliConfigOptions } from "./config.js";
export { buildProgram, main, runCli } from "./main.js";
export type { CliIo, TextSink } from "./context.js";
export { parseManifests } from "./manifests.js";
export type { Manifest } from "./manifests.js";
export type { ApplyResult, Build, BuildConfig, ImageStream } from "./resources.js";
export { demoTemplates } from "./demo-templates.js";
