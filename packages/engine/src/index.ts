/** Build engines: `local` runs git and buildah on this host. */
export { Buildah } from "./buildah.js";
export type { BuildahOptions } from "./buildah.js";
export { overrideLastFrom } from "./dockerfile.js";
export { fetchGitSource } from "./git-source.js";
export type { SourceRevision } from "./git-source.js";
export { LocalEngine } from "./local-engine.js";
export type { LocalEngineOptions } from "./local-engine.js";
export { NoopEngine } from "./noop-engine.js";
export type { NoopEngineOptions } from "./noop-engine.js";
export { descendantPids, runCommand } from "./run-command.js";
export type { CommandResult, RunCommandOptions } from "./run-command.js";
export { buildahStep } from "./build-context.js";
export type { BuildContext } from "./build-context.js";
export { outputLabels } from "./labels.js";
export { safeExtractTar } from "./archive/safe-extract.js";
export type { SafeExtractOptions } from "./archive/safe-extract.js";
export { InvalidArchiveError, UnsafeArchiveError } from "./archive/errors.js";
export { authArgs } from "./auth-files.js";
