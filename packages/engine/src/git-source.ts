import { writeFile } from "node:fs/promises";
import { BuildFailure, FailureReason, type BuildRevision } from "@kiln/domain";
import { runCommand } from "@kiln/runtime";

export type SourceRevision = BuildRevision;

export interface FetchGitOptions {
  uri: string;
  ref?: string | undefined;
  commit?: string | undefined;
  dir: string;
  onLine: (line: string) => void;
  signal: AbortSignal;
  gitBinary?: string;
  /** The BuildConfig's git proxies (`spec.source.git.httpProxy` …): the clone's only ones. */
  proxy?: GitProxy | undefined;
}

interface GitProxy {
  httpProxy?: string | undefined;
  httpsProxy?: string | undefined;
  noProxy?: string | undefined;
}

/**
 * The proxy env git (libcurl) reads, in both cases. A BuildConfig that names a proxy replaces
 * all of the runner's own (its noProxy too, as OpenShift's build proxies replace the cluster's);
 * one that names none leaves the runner's env as it is.
 */
function proxyEnv(env: NodeJS.ProcessEnv, proxy: GitProxy | undefined): NodeJS.ProcessEnv {
  if (!proxy?.httpProxy && !proxy?.httpsProxy && !proxy?.noProxy) return env;
  const out = { ...env };
  for (const name of ["http_proxy", "https_proxy", "no_proxy", "all_proxy"])
    for (const key of [name, name.toUpperCase()]) delete out[key];
  const set = (name: string, value: string | undefined) => {
    if (value) out[name] = out[name.toUpperCase()] = value;
  };
  set("http_proxy", proxy?.httpProxy);
  set("https_proxy", proxy?.httpsProxy);
  set("no_proxy", proxy?.noProxy);
  return out;
}

/**
 * Clones the source into `dir` at the exact commit asked for (or the tip of `ref`).
 * Never prompts for credentials: a private repo without credentials fails fast instead of hanging.
 */
export async function fetchGitSource(options: FetchGitOptions): Promise<SourceRevision> {
  const git = options.gitBinary ?? "git";
  const env = {
    ...proxyEnv(process.env, options.proxy),
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "true",
    LC_ALL: "C",
    GIT_CONFIG_GLOBAL: await writeGitConfig(`${options.dir}.gitconfig`),
  };
  const run = async (args: string[], cwd?: string) => {
    const result = await runCommand({
      command: git,
      args,
      cwd,
      env,
      onLine: options.onLine,
      signal: options.signal,
      // A clone must not go on writing into a work dir once its runner is gone.
      parentDeathSignal: "SIGTERM",
    });
    if (result.aborted) throw options.signal.reason;
    if (result.exitCode !== 0) {
      throw new BuildFailure(
        FailureReason.FetchSourceFailed,
        `git ${args[0]} of ${options.uri} failed (exit ${result.exitCode ?? result.signal})`,
      );
    }
  };
  if (options.commit) {
    await run(["clone", "--quiet", "--no-checkout", "--", options.uri, options.dir]);
    await run(["checkout", "--quiet", "--detach", options.commit], options.dir);
  } else {
    // The tip of a branch (or the default one): one shallow clone checks it out.
    await run([
      "clone",
      "--quiet",
      "--depth",
      "1",
      ...(options.ref ? ["--branch", options.ref] : []),
      "--",
      options.uri,
      options.dir,
    ]);
  }
  let meta = "";
  const show = await runCommand({
    command: git,
    args: ["log", "-1", "--format=%H%n%an <%ae>%n%aI%n%s"],
    cwd: options.dir,
    env,
    onLine: (line) => (meta += `${line}\n`),
    signal: options.signal,
  });
  if (show.exitCode !== 0)
    throw new BuildFailure(FailureReason.FetchSourceFailed, `cannot read commit of ${options.uri}`);
  const [commit = "", author = "", date = "", message = ""] = meta.split("\n");
  return { commit, ref: options.ref, author, date, message };
}

/**
 * The only git config a clone reads besides the system's: the runner is the build user, so a
 * repository on this host (file://, a path) belongs to someone else, and git refuses to read it
 * ("dubious ownership") unless told it is safe; git drops GIT_CONFIG_COUNT for its local
 * transport, so it has to be a file. Reading is all the runner does there, and it can read only
 * what the build user may.
 */
async function writeGitConfig(file: string): Promise<string> {
  await writeFile(file, "[safe]\n\tdirectory = *\n", { mode: 0o600 });
  return file;
}
