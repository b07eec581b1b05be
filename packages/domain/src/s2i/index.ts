/**
 * The S2I planner: source-to-image's rules (script lookup, destination, assemble user, allowed
 * uids, `.s2i/environment`, `.s2iignore`, labels, runtime images) as pure functions that turn
 * facts about the builder image and the source into a plan and a Dockerfile. No I/O here.
 */
export { formatUidRanges, isUserAllowed, parseUidRanges, UidRangeError } from "./allowed-uids.js";
export type { UidRange } from "./allowed-uids.js";
export {
  S2IContextDir,
  S2ILabel,
  S2IScript,
  defaultScriptsUrl,
  s2iIgnoreFile,
  s2iScripts,
  scriptsNotFoundMarker,
  sourceEnvironmentFiles,
  sourceScriptDirs,
} from "./constants.js";
export { parseS2IEnvironment } from "./environment.js";
export { imageEnv } from "./image-config.js";
export type { ImageConfig } from "./image-config.js";
export { planS2IBuild } from "./plan.js";
export type { S2IPlan, S2IPlanInput, S2IRuntimePlan, ScriptSource } from "./plan.js";
export { parseS2IIgnore } from "./s2i-ignore.js";
export type { S2IIgnore } from "./s2i-ignore.js";
