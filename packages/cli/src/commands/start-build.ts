import { randomUUID } from "node:crypto";
import { binarySourceFlag, openBinaryUpload } from "../binary-input.js";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { formatResources, type OutputFormat } from "../output/format.js";
import { qualifiedName } from "../resources.js";
import { asDockerfileCommand } from "./as-dockerfile.js";
import { assertComplete, followBuild, waitForBuild } from "./wait.js";

export interface StartBuildOptions {
  namespace?: string | undefined;
  commit?: string | undefined;
  env: string[];
  follow?: boolean | undefined;
  wait?: boolean | undefined;
  output?: OutputFormat | undefined;
  /** Binary input (OpenShift's `oc start-build --from-*`); at most one. */
  fromFile?: string | undefined;
  fromDir?: string | undefined;
  fromArchive?: string | undefined;
  /** s2i's `--as-dockerfile`: write the Dockerfile and context here, start nothing. */
  asDockerfile?: string | undefined;
}

/** Parses repeated `--env K=V` flags; the value may itself contain `=`. */
export function parseEnvFlags(flags: readonly string[]): { name: string; value: string }[] {
  return flags.map((flag) => {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new UsageError(`--env expects NAME=value, got ${JSON.stringify(flag)}`);
    return { name: flag.slice(0, eq), value: flag.slice(eq + 1) };
  });
}

export async function startBuildCommand(
  ctx: CommandContext,
  name: string,
  options: StartBuildOptions,
): Promise<void> {
  if (options.follow && options.wait)
    throw new UsageError("use either --follow or --wait, not both");
  const env = parseEnvFlags(options.env);
  const namespace = ctx.namespace(options.namespace);
  // A request id of our own makes the request safe to retry: the API returns the same build.
  const requestId = randomUUID();
  const binarySource = binarySourceFlag(options);
  if (options.asDockerfile !== undefined) {
    if (options.follow || options.wait || options.output)
      throw new UsageError("--as-dockerfile starts no build: drop --follow, --wait and -o");
    if (binarySource && binarySource.flag !== "from-dir")
      throw new UsageError(
        `--as-dockerfile takes its source from git or --from-dir, not --${binarySource.flag}`,
      );
    await asDockerfileCommand(ctx, name, {
      namespace,
      dir: options.asDockerfile,
      commit: options.commit,
      env,
      fromDir: options.fromDir,
    });
    return;
  }
  if (binarySource && (options.commit || env.length > 0))
    throw new UsageError(`--${binarySource.flag} cannot be combined with --commit or --env`);
  let result;
  if (binarySource) {
    const upload = await openBinaryUpload(binarySource);
    ctx.err(`${upload.description}\n`);
    result = await ctx.client().instantiateBinary(namespace, name, {
      kind: upload.kind,
      asFile: upload.asFile,
      size: upload.size,
      body: upload.body,
      requestId,
    });
  } else {
    result = await ctx.client().instantiate(namespace, name, {
      requestId,
      ...(options.commit ? { commit: options.commit } : {}),
      ...(env.length > 0 ? { env } : {}),
    });
  }

  if (result.kind === "Accepted") {
    if (options.follow || options.wait) {
      throw new UsageError(
        `the build request for buildconfig ${name} was accepted (requestId ${result.requestId}) but no build exists yet, ` +
          `so there is nothing to ${options.follow ? "follow" : "wait for"}; see \`kiln get builds --bc ${name}\` in a moment`,
      );
    }
    ctx.out(
      `build request for buildconfig.kiln.dev/${name} accepted (requestId ${result.requestId}); the build has not been created yet\n`,
    );
    return;
  }

  const build = result.build;
  const buildName = build.metadata.name;
  if (options.output)
    ctx.out(formatResources([build], options.output, { single: true, kind: "Build" }));
  else ctx.out(`${qualifiedName("Build", buildName)} started\n`);

  if (options.follow) assertComplete(await followBuild(ctx, namespace, buildName));
  else if (options.wait) assertComplete(await waitForBuild(ctx, namespace, buildName));
}
