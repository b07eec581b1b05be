import { BuildFailure } from "../errors.js";
import { FailureReason } from "../failure-reason.js";
import { envName, type EnvVar } from "../resources/common.js";
import { formatUidRanges, isUserAllowed, type UidRange } from "./allowed-uids.js";
import {
  S2ILabel,
  S2IScript,
  defaultAssembleUser,
  defaultDestination,
  defaultScriptsUrl,
  legacyScriptsUrlEnv,
} from "./constants.js";
import { renderS2IDockerfile } from "./dockerfile.js";
import { mergeEnv, parseS2IEnvironment } from "./environment.js";
import { imageEnv, type ImageConfig } from "./image-config.js";

/** One runtime artifact: a path in the builder after assemble → a directory under the runtime WORKDIR. */
interface RuntimeArtifact {
  /** Absolute path in the builder container, no wildcards. */
  sourcePath: string;
  /** Relative to the runtime image's WORKDIR; `""` or `.` for the WORKDIR itself. */
  destinationDir: string;
}

/** What the planner needs to know; everything is data, nothing is read here. */
export interface S2IPlanInput {
  /** Pullable builder reference (ImageStreamTags already resolved). */
  builderImage: string;
  builder: ImageConfig;
  /** The BuildConfig's `sourceStrategy` (the fields the plan uses). */
  strategy: {
    scripts?: string | undefined;
    env?: readonly EnvVar[] | undefined;
    incremental?: boolean | undefined;
    runtimeArtifacts?:
      readonly { sourcePath: string; destinationDir?: string | undefined }[] | undefined;
  };
  /** The runtime image (Kiln extension `sourceStrategy.runtimeImage`), resolved and inspected. */
  runtime?: { image: string; config: ImageConfig } | null | undefined;
  /** What the (context dir of the) source holds. */
  source: {
    /** Scripts found in the source's `.s2i/bin` (or legacy `.sti/bin`). */
    scripts: readonly S2IScript[];
    /** Text of `.s2i/environment` (or `.sti/environment`), null when there is none. */
    environment: string | null;
  };
  /** `kiln start-build --env`: wins over everything else. */
  buildEnv?: readonly EnvVar[] | undefined;
  /** OpenShift's allowed-UIDs rule; empty allows every user. */
  allowedUids: readonly UidRange[];
  /** The previous image's `save-artifacts` output is in the context: copy it to `<dest>/artifacts`. */
  artifacts?: boolean | undefined;
  /** Labels Kiln puts on every output (source, commit, BuildConfig, the user's `imageLabels`); they win. */
  outputLabels?: readonly (readonly [string, string])[] | undefined;
  /** The output image name (`io.k8s.display-name`), when there is one. */
  outputImage?: string | null | undefined;
  /** The source's `contextDir` (`io.openshift.build.source-context-dir`). */
  contextDir?: string | undefined;
  /**
   * Env names whose values the Dockerfile must not spell out (a Secret's: buildah prints each
   * instruction to the build log): set from private build args instead (`S2IPlan.privateArgs`).
   */
  privateEnv?: ReadonlySet<string> | undefined;
}

/** Where one script comes from. */
export type ScriptSource =
  /** Uploaded from the source's `.s2i/bin` to `<dest>/scripts`. */
  | { from: "source"; path: string }
  /** Already in the builder image (`image://` URL); trusted to exist, checked when the build runs. */
  | { from: "image"; path: string }
  /** Already in the runtime image. */
  | { from: "runtime-image"; path: string };

export interface S2IRuntimePlan {
  image: string;
  /** The runtime image's USER (`assemble-runtime` and the result run as it). */
  user: string;
  workingDir: string;
  /** Absolute source in the builder → absolute target in the runtime image (the artifact's own name kept). */
  artifacts: { sourcePath: string; targetPath: string }[];
  assembleRuntime: ScriptSource | null;
  /** Scripts copied from the source into the runtime image's `<dest>/scripts`. */
  uploadScripts: S2IScript[];
}

/** Everything an engine needs to run the S2I build, and the Dockerfile that does it. */
export interface S2IPlan {
  builderImage: string;
  /** `io.openshift.s2i.destination` or `/tmp`: `<dest>/src`, `<dest>/scripts`, `<dest>/artifacts`. */
  destination: string;
  /** The `image://` URL of the builder's own scripts. */
  imageScriptsUrl: string;
  scripts: { assemble: ScriptSource; run: ScriptSource; saveArtifacts: ScriptSource };
  /** Source scripts copied into `<dest>/scripts` of the builder stage. */
  uploadScripts: S2IScript[];
  /** `uid[:gid]` assemble runs as; also the output image's USER for builder-based builds. */
  assembleUser: string;
  /** `.s2i/environment`, then the strategy's env, then the build's; seen by assemble and kept in the image. */
  env: EnvVar[];
  /** Sorted `[name, value]` pairs on the output image. */
  labels: [string, string][];
  /** The output image's CMD (the `run` script). */
  cmd: string[];
  /** Whether to fetch the previous image's artifacts before building (`incremental: true`). */
  incremental: boolean;
  /** Whether the context holds saved artifacts to copy to `<dest>/artifacts`. */
  artifacts: boolean;
  runtime: S2IRuntimePlan | null;
  /** Things the user should read in the log (skipped variables …). */
  warnings: string[];
  /**
   * The build args that carry the values of `privateEnv` (`ARG <arg>`, then `ENV NAME="${arg}"`
   * after each FROM): passed to buildah by name, their values from its environment.
   */
  privateArgs: { arg: string; env: string; value: string }[];
  /** The generated Dockerfile; its context holds the `upload/` directories of `S2IContextDir`. */
  dockerfile: string;
}

/** Names of the private build args (`S2IPlan.privateArgs`); no user's name starts so. */
const privateArgPrefix = "KILN_S2I_ENV_";

function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/**
 * Reads an `image://` URL as a directory inside the image. Any other scheme would need a
 * download, which a build machine without network cannot do: it is refused, not ignored.
 */
function imageScriptsDir(url: string, where: string): string {
  if (url.startsWith("image://")) {
    const dir = url.slice("image://".length);
    if (!dir.startsWith("/"))
      throw new BuildFailure(
        FailureReason.ScriptsFetchFailed,
        `${where} ${url} must name an absolute path (image:///path)`,
      );
    return dir.replace(/\/+$/, "") || "/";
  }
  throw new BuildFailure(
    FailureReason.ScriptsFetchFailed,
    `${where} ${url} is not supported: Kiln reads scripts only from the source's .s2i/bin or from an image:// path (no downloads during builds)`,
  );
}

/** The builder's scripts location: label, legacy label, `STI_SCRIPTS_URL`, then the default. */
function imageScriptsUrlOf(config: ImageConfig): { url: string; where: string } {
  const label = config.labels[S2ILabel.ScriptsUrl];
  if (label) return { url: label, where: `label ${S2ILabel.ScriptsUrl}` };
  const legacy = config.labels[S2ILabel.LegacyScriptsUrl];
  if (legacy) return { url: legacy, where: `label ${S2ILabel.LegacyScriptsUrl}` };
  const env = imageEnv(config, legacyScriptsUrlEnv);
  if (env) return { url: env, where: `environment ${legacyScriptsUrlEnv}` };
  return { url: defaultScriptsUrl, where: "default" };
}

function checkUser(user: string, allowed: readonly UidRange[], what: string): void {
  if (isUserAllowed(user, allowed)) return;
  throw new BuildFailure(
    FailureReason.AssembleUserNotAllowed,
    `${what} ${JSON.stringify(user || "root")} is not allowed: it must be a numeric uid in ${formatUidRanges(allowed)} (set the image's USER or the ${S2ILabel.AssembleUser} label)`,
  );
}

/** Parses `src[:dest];src2` (the `assemble-input-files` label). */
function parseInputFiles(label: string): RuntimeArtifact[] {
  return label
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const colon = item.indexOf(":");
      return colon < 0
        ? { sourcePath: item, destinationDir: "" }
        : { sourcePath: item.slice(0, colon), destinationDir: item.slice(colon + 1) };
    });
}

function runtimeArtifacts(
  input: S2IPlanInput,
  runtime: ImageConfig,
): { sourcePath: string; targetPath: string }[] {
  const given = input.strategy.runtimeArtifacts?.map((a) => ({
    sourcePath: a.sourcePath,
    destinationDir: a.destinationDir ?? "",
  }));
  const label = runtime.labels[S2ILabel.AssembleInputFiles];
  const mapping = given && given.length > 0 ? given : label ? parseInputFiles(label) : [];
  if (mapping.length === 0) {
    throw new BuildFailure(
      FailureReason.RuntimeArtifactsInvalid,
      `no runtime artifacts: set sourceStrategy.runtimeArtifacts or the runtime image's ${S2ILabel.AssembleInputFiles} label`,
    );
  }
  const workDir = runtime.workingDir || "/";
  return mapping.map(({ sourcePath, destinationDir }) => {
    const src = sourcePath.replace(/\/+$/, "");
    if (!src.startsWith("/") || /[*?[\]]/.test(src) || src.split("/").includes("..")) {
      throw new BuildFailure(
        FailureReason.RuntimeArtifactsInvalid,
        `runtime artifact ${JSON.stringify(sourcePath)} must be an absolute path without wildcards`,
      );
    }
    const dest =
      destinationDir === "." ? "" : destinationDir.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    if (dest.startsWith("/") || dest.split("/").includes("..")) {
      throw new BuildFailure(
        FailureReason.RuntimeArtifactsInvalid,
        `runtime artifact destination ${JSON.stringify(destinationDir)} must be a relative path inside the WORKDIR`,
      );
    }
    const name = src.slice(src.lastIndexOf("/") + 1);
    const dir = dest ? joinPath(workDir, dest) : workDir;
    // The destination is a directory (the spec cannot rename): the artifact keeps its name.
    return { sourcePath: src, targetPath: joinPath(dir === "/" ? "" : dir, name) };
  });
}

/** Drops variables Docker cannot hold (a name with a space …), saying so. */
function validEnv(env: EnvVar[], warnings: string[]): EnvVar[] {
  return env.filter((e) => {
    if (envName.safeParse(e.name).success) return true;
    warnings.push(`environment variable ${JSON.stringify(e.name)} skipped: not a valid name`);
    return false;
  });
}

/**
 * Plans an S2I build the way source-to-image does (its `--as-dockerfile` generator is the
 * model): which script runs from where, as which user, with which environment and labels, and
 * the Dockerfile that does it. Throws a `BuildFailure` for what the spec refuses.
 */
export function planS2IBuild(input: S2IPlanInput): S2IPlan {
  const warnings: string[] = [];
  const { builder } = input;
  const destination =
    (builder.labels[S2ILabel.Destination] || defaultDestination).replace(/\/+$/, "") || "/";
  const uploadedDir = joinPath(destination, "scripts");
  const image = imageScriptsUrlOf(builder);
  const imageDir = imageScriptsDir(image.url, `builder scripts location (${image.where})`);
  // The BuildConfig's `scripts` wins over the source and the image, as s2i's --scripts-url does.
  const userDir = input.strategy.scripts
    ? imageScriptsDir(input.strategy.scripts, "sourceStrategy.scripts")
    : null;
  const fromSource = new Set(input.source.scripts);

  const locate = (script: S2IScript, fallback: ScriptSource | null): ScriptSource | null => {
    if (userDir) return { from: "image", path: joinPath(userDir, script) };
    if (fromSource.has(script)) return { from: "source", path: joinPath(uploadedDir, script) };
    return fallback;
  };
  const fromImage = (script: S2IScript): ScriptSource => ({
    from: "image",
    path: joinPath(imageDir, script),
  });

  const assemble = locate(S2IScript.Assemble, fromImage(S2IScript.Assemble))!;
  const saveArtifacts = locate(S2IScript.SaveArtifacts, fromImage(S2IScript.SaveArtifacts))!;

  const assembleUser = builder.labels[S2ILabel.AssembleUser] || builder.user || defaultAssembleUser;
  checkUser(assembleUser, input.allowedUids, "assemble user");

  const env = validEnv(
    mergeEnv(
      input.source.environment === null ? [] : parseS2IEnvironment(input.source.environment),
      input.strategy.env ?? [],
      input.buildEnv ?? [],
    ),
    warnings,
  );

  let runtime: S2IRuntimePlan | null = null;
  let run: ScriptSource;
  if (input.runtime) {
    const rt = input.runtime.config;
    // The spec: with allowed uids set, the runtime image needs a numeric USER in range too.
    checkUser(rt.user, input.allowedUids, "runtime image user");
    const rtLabel = rt.labels[S2ILabel.ScriptsUrl] || rt.labels[S2ILabel.LegacyScriptsUrl];
    const rtDir = imageScriptsDir(rtLabel || defaultScriptsUrl, "runtime image scripts location");
    const fromRuntime = (script: S2IScript): ScriptSource => ({
      from: "runtime-image",
      path: joinPath(rtDir, script),
    });
    run = locate(S2IScript.Run, fromRuntime(S2IScript.Run))!;
    // assemble-runtime is optional: looked for in the runtime image only when it says it has scripts.
    const assembleRuntime = locate(
      S2IScript.AssembleRuntime,
      rtLabel ? fromRuntime(S2IScript.AssembleRuntime) : null,
    );
    runtime = {
      image: input.runtime.image,
      user: rt.user,
      workingDir: rt.workingDir || "/",
      artifacts: runtimeArtifacts(input, rt),
      assembleRuntime,
      uploadScripts: ([S2IScript.Run, S2IScript.AssembleRuntime] as S2IScript[]).filter(
        (s) => !userDir && fromSource.has(s),
      ),
    };
  } else {
    run = locate(S2IScript.Run, fromImage(S2IScript.Run))!;
  }

  const uploadScripts: S2IScript[] = userDir
    ? []
    : [S2IScript.Assemble, S2IScript.SaveArtifacts].filter((s) => fromSource.has(s));
  if (!input.runtime && !userDir && fromSource.has(S2IScript.Run))
    uploadScripts.push(S2IScript.Run);

  const labels = new Map<string, string>();
  labels.set("io.openshift.build.image", input.builderImage);
  labels.set(S2ILabel.ScriptsUrl, `image://${imageDir}`);
  if (input.outputImage) labels.set("io.k8s.display-name", input.outputImage);
  if (input.contextDir) labels.set("io.openshift.build.source-context-dir", input.contextDir);
  if (builder.labels[S2ILabel.Destination]) labels.set(S2ILabel.Destination, destination);
  for (const [k, v] of input.outputLabels ?? []) labels.set(k, v);

  const plan: Omit<S2IPlan, "dockerfile"> = {
    builderImage: input.builderImage,
    destination,
    imageScriptsUrl: `image://${imageDir}`,
    scripts: { assemble, run, saveArtifacts },
    uploadScripts,
    assembleUser,
    env,
    labels: [...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    cmd: [run.path],
    // The spec refuses incremental builds with a runtime image; the schema does too.
    incremental: Boolean(input.strategy.incremental) && !input.runtime,
    artifacts: Boolean(input.artifacts) && !input.runtime,
    runtime,
    warnings,
    privateArgs: env
      .filter((e) => input.privateEnv?.has(e.name))
      .map((e, i) => ({ arg: `${privateArgPrefix}${i}`, env: e.name, value: e.value })),
  };
  return { ...plan, dockerfile: renderS2IDockerfile(plan) };
}
