import { z } from "zod";
import type { EnvVar } from "./common.js";
import { objectFor, type Strictness } from "./common.js";
import { dockerfileQuote } from "../s2i/dockerfile.js";

/**
 * OpenShift's `spec.postCommit` (BuildPostCommitSpec): a command run in a temporary container of
 * the freshly committed output image, before it is pushed; a non-zero exit fails the build
 * `PostCommitHookFailed` and nothing is pushed.
 */
export interface PostCommitHook {
  /** Run as `/bin/sh -ic <script> /bin/sh <args...>`: `$1`, `$2`… are `args`. */
  script?: string | undefined;
  /** Replaces the image's entrypoint (exec form); `args` follow it. */
  command?: string[] | undefined;
  /** Alone: the arguments of the image's own entrypoint, in place of its CMD. */
  args?: string[] | undefined;
}

/**
 * Refused at apply, naming the field: a hook that runs nothing, and `script` with `command`
 * (OpenShift: "cannot use script and command together"). `{}` in a `build.openshift.io/v1`
 * document is no hook: OpenShift's API server writes `postCommit: {}` on every BuildConfig it
 * returns, so exported YAML must apply; in Kiln's own strict `kiln.dev/v1` it is a mistake.
 */
export function postCommitSchema(strictness: Strictness) {
  const object = objectFor(strictness);
  return object({
    script: z.string().optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
  })
    .superRefine((hook, ctx) => {
      const given = (["script", "command", "args"] as const).filter((f) => hook[f] !== undefined);
      if (given.length === 0) {
        if (strictness === "strict")
          ctx.addIssue({
            code: "custom",
            message: "an empty hook runs nothing: set script, or command (and args), or args",
          });
        return;
      }
      if (hook.script !== undefined && hook.command !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["command"],
          message: "cannot be used with script (OpenShift: one or the other)",
        });
      if (hook.script !== undefined && hook.script.trim() === "")
        ctx.addIssue({ code: "custom", path: ["script"], message: "must not be empty" });
      if (hook.command !== undefined && (hook.command[0] ?? "").trim() === "")
        ctx.addIssue({
          code: "custom",
          path: hook.command.length === 0 ? ["command"] : ["command", 0],
          message: "must not be empty: it names the program the hook runs",
        });
      if (hook.script === undefined && hook.command === undefined && hook.args?.length === 0)
        ctx.addIssue({
          code: "custom",
          path: ["args"],
          message: "must not be empty when neither script nor command is set",
        });
    })
    .transform((hook): PostCommitHook | undefined =>
      hook.script === undefined && hook.command === undefined && hook.args === undefined
        ? undefined
        : hook,
    );
}

/** Whether a build runs a post-commit hook: then its image must be committed locally (by buildah) and only pushed once the hook passed. */
export function hasPostCommitHook(spec: { postCommit?: PostCommitHook | undefined }): boolean {
  return spec.postCommit !== undefined;
}

type StrategyEnv = { env?: readonly EnvVar[] | undefined } | undefined;

/**
 * The hook's environment: the strategy's env, then the build's own (`start-build --env`), as the
 * build steps get them; the last of a name wins.
 */
export function postCommitEnv(spec: {
  strategy: { dockerStrategy?: StrategyEnv; sourceStrategy?: StrategyEnv };
  env: readonly EnvVar[];
}): EnvVar[] {
  const all = [
    ...(spec.strategy.dockerStrategy?.env ?? []),
    ...(spec.strategy.sourceStrategy?.env ?? []),
    ...spec.env,
  ];
  return [...new Map(all.map((e) => [e.name, e])).values()];
}

/** What the args-only form needs of the committed image: its entrypoint (exec form; none: `[]`). */
export interface HookImage {
  entrypoint: readonly string[];
}

/**
 * The argv the hook's container runs, as OpenShift's builder forms it: `script` becomes the
 * entrypoint `/bin/sh -ic` with `[script, "/bin/sh", ...args]` (so `$0` is `/bin/sh` and `$1`…
 * are `args`); `command` replaces the entrypoint and `args` follow; `args` alone replace the
 * image's CMD after its entrypoint (with no entrypoint, `args` are the command).
 */
export function postCommitArgv(hook: PostCommitHook, image: HookImage): string[] {
  const args = hook.args ?? [];
  if (hook.script !== undefined) return ["/bin/sh", "-ic", hook.script, "/bin/sh", ...args];
  if (hook.command !== undefined) return [...hook.command, ...args];
  return [...image.entrypoint, ...args];
}

/**
 * The hook's container as a Dockerfile for `buildah bud`, so the hook runs exactly as the
 * build's RUN steps do (same isolation, network and hooks): the image, the build's env on top
 * of the image's (a newline in a value becomes a space, as in S2I's ENV), one exec-form RUN of
 * `argv` as the image's USER in its WORKDIR.
 */
export function renderPostCommitDockerfile(input: {
  image: string;
  argv: readonly string[];
  env: readonly EnvVar[];
}): string {
  const env = input.env.map((e) => `ENV ${e.name}=${dockerfileQuote(e.value)}\n`).join("");
  return `# Generated by Kiln: the BuildConfig's spec.postCommit hook.\nFROM ${input.image}\n${env}RUN ${JSON.stringify(input.argv)}\n`;
}
