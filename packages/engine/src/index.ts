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
// For @kiln/testing's local kubelet, which still imports it from here; it lives in @kiln/runtime.
export { descendantPids } from "@kiln/runtime";
export { buildahStep } from "./build-context.js";
export type { BuildContext } from "./build-context.js";
export { outputLabels } from "./labels.js";
export { safeExtractTar } from "./archive/safe-extract.js";
export type { SafeExtractOptions } from "./archive/safe-extract.js";
export { InvalidArchiveError, UnsafeArchiveError } from "./archive/errors.js";
export { authArgs } from "./auth-files.js";
export { fetchSource } from "./source-fetch.js";
export type { FetchSourceOptions } from "./source-fetch.js";
export { prepareBuildHost } from "./isolation/build-host.js";
export type { BuildHostOptions } from "./isolation/build-host.js";
export { BuildIsolation, BuildNetwork, StorageDriverChoice } from "./isolation/types.js";
export type { BuildHost, StorageDriver } from "./isolation/types.js";
export { BuildHostUnusableError } from "./isolation/errors.js";
export { writeS2IDockerfile } from "./s2i/as-dockerfile.js";
export type { WriteS2IDockerfileOptions, WrittenS2IDockerfile } from "./s2i/as-dockerfile.js";
