/**
 * The helpers of @kiln/testing that need no vitest, for the benchmarks (which are plain
 * scripts): git repositories and S2I builder images.
 */
export { makeGitRepo } from "./git.js";
export type { GitRepo } from "./git.js";
export { buildS2IBuilderImage, s2iBuilderApplets } from "./s2i-images.js";
export type { BuildS2IBuilderImageOptions } from "./s2i-images.js";
export { registryNotificationToken } from "./names.js";
