/**
 * Names from the source-to-image spec (openshift/source-to-image `pkg/api/constants`), so a
 * builder image made for OpenShift works with Kiln unchanged.
 */

/** The scripts an S2I build may use; `assemble` and `run` are required, the rest optional. */
export const S2IScript = {
  Assemble: "assemble",
  Run: "run",
  SaveArtifacts: "save-artifacts",
  Usage: "usage",
  AssembleRuntime: "assemble-runtime",
} as const;
export type S2IScript = (typeof S2IScript)[keyof typeof S2IScript];

/** Every script name, in a stable order. */
export const s2iScripts: readonly S2IScript[] = Object.values(S2IScript);

/** Image labels a builder (or runtime) image uses to describe itself. */
export const S2ILabel = {
  /** Where the image keeps its scripts, e.g. `image:///usr/libexec/s2i`. */
  ScriptsUrl: "io.openshift.s2i.scripts-url",
  /** The legacy spelling, still read by s2i. */
  LegacyScriptsUrl: "io.s2i.scripts-url",
  /** Where sources, scripts and artifacts are placed (`<dest>/src` …). @default "/tmp" */
  Destination: "io.openshift.s2i.destination",
  /** The user assemble runs as, when it differs from the image's USER. */
  AssembleUser: "io.openshift.s2i.assemble-user",
  /** On a runtime image: the default runtime artifacts, `src[:dest];src2[:dest2]`. */
  AssembleInputFiles: "io.openshift.s2i.assemble-input-files",
} as const;
export type S2ILabel = (typeof S2ILabel)[keyof typeof S2ILabel];

/** The builder-image environment variable s2i reads when no label names the scripts. */
export const legacyScriptsUrlEnv = "STI_SCRIPTS_URL";
/** Where scripts are when nothing else says so. */
export const defaultScriptsUrl = "image:///usr/libexec/s2i";
/** s2i's default destination for sources, uploaded scripts and artifacts. */
export const defaultDestination = "/tmp";
/**
 * The user s2i's Dockerfile generator (`--as-dockerfile`) assembles as when neither the label
 * nor the image names one: the conventional non-root user of OpenShift builder images.
 */
export const defaultAssembleUser = "1001";

/** Directories of the build context the generated Dockerfile copies from (like s2i's `upload/`). */
export const S2IContextDir = {
  /** Holds the three below, so that one COPY lands them as `<dest>/src`, `/scripts`, `/artifacts`. */
  Upload: "upload",
  Source: "upload/src",
  Scripts: "upload/scripts",
  Artifacts: "upload/artifacts",
} as const;

/** Where scripts live in a source tree, newest first (`.sti` is s2i's deprecated name). */
export const sourceScriptDirs = [".s2i/bin", ".sti/bin"] as const;
/** Where the environment file lives in a source tree, newest first. */
export const sourceEnvironmentFiles = [".s2i/environment", ".sti/environment"] as const;
/** The ignore file at the root of the (context dir of the) source. */
export const s2iIgnoreFile = ".s2iignore";

/**
 * The line the generated Dockerfile prints when a required image script is missing, so the
 * engine can report `ScriptsNotFound` instead of a generic assemble failure. It is Kiln's own
 * marker (the Dockerfile is Kiln's), not another tool's message.
 */
export const scriptsNotFoundMarker = "kiln-s2i: ScriptsNotFound:";
