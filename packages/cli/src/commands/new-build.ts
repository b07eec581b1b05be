import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { CommandFailedError, runChecked } from "@kiln/runtime";
import { stringify } from "yaml";
import type { KilnClient } from "../client.js";
import type { CommandContext } from "../context.js";
import { ApiError, UsageError } from "../errors.js";
import { detectBuild, NewBuildStrategy, type Detected } from "../new-build/detect.js";
import { AlreadyExistsError, RepositoryError, UnresolvedImageError } from "../new-build/errors.js";
import {
  nameFromRepository,
  outputTag,
  renderNewBuild,
  templateVersion,
  type ResolvedTemplate,
} from "../new-build/render.js";
import { webhookLines } from "../output/webhooks.js";
import { qualifiedName, type BuildConfig, type WireImageRef } from "../resources.js";
import { visibleTemplates } from "../templates.js";

export interface NewBuildOptions {
  template?: string | undefined;
  name?: string | undefined;
  to?: string | undefined;
  runtimeImage?: string | undefined;
  strategy?: string | undefined;
  dryRun?: boolean | undefined;
  output?: string | undefined;
  overwrite?: boolean | undefined;
  namespace?: string | undefined;
}

/**
 * `kiln new-build REPO[#REF]`, like `oc new-build`: reads the repository's top-level files from
 * a shallow clone, picks the Docker strategy or a BuilderTemplate (new-build/detect.ts), checks
 * that the builder image resolves and that no BuildConfig of the name exists, then applies the
 * ImageStream and the BuildConfig in one apply (all or nothing) and prints the webhook URLs.
 */
export async function newBuildCommand(
  ctx: CommandContext,
  repository: string,
  options: NewBuildOptions,
): Promise<void> {
  const strategy = parseStrategy(options.strategy);
  if (options.output !== undefined && !options.dryRun)
    throw new UsageError("-o is for --dry-run (it prints what would be created)");
  if (options.output !== undefined && options.output !== "yaml" && options.output !== "json")
    throw new UsageError(`-o ${options.output}: use yaml or json`);
  const namespace = ctx.namespace(options.namespace);
  const client = ctx.client();
  const git = gitSource(repository, ctx.io.cwd);
  const name = options.name ?? nameFromRepository(repository);
  outputTag({ name, to: options.to }); // a bad --to is refused before the clone

  const files = await topLevelFiles(git, repository, ctx.io.env);
  const detected = detectBuild(files, await visibleTemplates(client, namespace), {
    template: options.template,
    strategy,
  });
  const resolved = templateVersion(detected);
  if (resolved) await checkImages(ctx, client, resolved, options.runtimeImage);

  const existing = await getOrNull(() => client.getBuildConfig(namespace, name));
  if (existing && !options.overwrite)
    throw new AlreadyExistsError(
      `BuildConfig ${namespace}/${name} exists; nothing was changed (--overwrite replaces it, or --name picks another name)`,
    );
  const { imageStream } = outputTag({ name, to: options.to });
  const stream = await getOrNull(() => client.getImageStream(namespace, imageStream));
  const secret = randomBytes(20).toString("hex");
  const docs = renderNewBuild({
    namespace,
    name,
    git,
    detected,
    to: options.to,
    runtimeImage: options.runtimeImage,
    webhookSecret: secret,
    createImageStream: stream === null,
  });

  if (options.dryRun) {
    ctx.err(`${describe(detected, resolved)} (dry run: nothing created)\n`);
    ctx.out(
      options.output === "json"
        ? `${JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }, null, 2)}\n`
        : docs.map((d) => stringify(d)).join("---\n"),
    );
    return;
  }
  const { items, warnings } = await client.apply(docs);
  for (const warning of warnings) ctx.err(`Warning: ${warning}\n`);
  ctx.out(`--> ${describe(detected, resolved)}\n`);
  for (const r of items) ctx.out(`${qualifiedName(r.kind, r.name)} ${r.action}\n`);
  const bc = docs.at(-1) as unknown as BuildConfig;
  ctx.out(`\n${webhookLines(bc, ctx.getConfig().webhookUrl).join("\n")}\n`);
  // The secret is sealed once applied and never shown again, as a token is at its creation.
  ctx.out(`\nWebhook secret (shown only now; <secret> above): ${secret}\n`);
  ctx.out(`A build starts now (ConfigChange): kiln logs bc/${name} -f\n`);
}

function parseStrategy(value: string | undefined): NewBuildStrategy | undefined {
  if (value === undefined) return undefined;
  if (value === NewBuildStrategy.Docker || value === NewBuildStrategy.Source) return value;
  throw new UsageError(`--strategy ${value}: use docker or source`);
}

/** `REPO#REF`; a local directory becomes its file:// URL, which the runner clones too. */
function gitSource(repository: string, cwd: string): { uri: string; ref?: string } {
  const hash = repository.indexOf("#");
  const location = hash >= 0 ? repository.slice(0, hash) : repository;
  const ref = hash >= 0 ? repository.slice(hash + 1) : undefined;
  if (!location) throw new UsageError("new-build needs a repository URL or directory");
  const local = resolve(cwd, location);
  const uri =
    !/^[a-z][a-z0-9+.-]*:/i.test(location) && existsSync(local)
      ? pathToFileURL(local).href
      : location;
  return { uri, ...(ref ? { ref } : {}) };
}

/** The names at the top of the repository (at REF), from a shallow clone without a checkout. */
async function topLevelFiles(
  git: { uri: string; ref?: string },
  repository: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-new-build-"));
  // Never prompt: a repository that wants credentials is an error, not a hang.
  const gitEnv = { ...env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false" };
  try {
    await runChecked(
      "git",
      [
        "clone",
        "--quiet",
        "--no-checkout",
        "--depth",
        "1",
        ...(git.ref ? ["--branch", git.ref] : []),
        "--",
        git.uri,
        join(dir, "repo"),
      ],
      { env: gitEnv, timeoutMs: 120_000 },
    );
    const { stdout } = await runChecked(
      "git",
      ["-C", join(dir, "repo"), "ls-tree", "--name-only", "HEAD"],
      { env: gitEnv },
    );
    return stdout.split("\n").filter(Boolean);
  } catch (error) {
    throw new RepositoryError(
      `cannot clone ${repository}${git.ref ? ` at ${git.ref}` : ""}: ${failure(error)}; nothing was created`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The builder (and runtime) image must resolve now: a build that could never pull it is not made. */
async function checkImages(
  ctx: CommandContext,
  client: KilnClient,
  resolved: ResolvedTemplate,
  runtimeImage: string | undefined,
): Promise<void> {
  const what = `BuilderTemplate ${resolved.template} (version ${resolved.version})`;
  await checkImage(ctx, client, resolved.builderImage, `the builder image of ${what}`);
  const runtime: WireImageRef | undefined =
    runtimeImage !== undefined
      ? { kind: "DockerImage", name: runtimeImage }
      : resolved.runtimeImage;
  if (runtime)
    await checkImage(
      ctx,
      client,
      runtime,
      runtimeImage !== undefined ? "--runtime-image" : `the runtime image of ${what}`,
    );
}

async function checkImage(
  ctx: CommandContext,
  client: KilnClient,
  ref: WireImageRef,
  what: string,
): Promise<void> {
  const name = ref.name ?? "";
  if (ref.kind === "ImageStreamTag") {
    const [stream = "", tag = "latest"] = name.split(":");
    const namespace = ref.namespace ?? ctx.namespace(undefined);
    const is = await getOrNull(() => client.getImageStream(namespace, stream)).catch(
      (error: unknown) => {
        throw new UnresolvedImageError(
          `${what}, ImageStreamTag ${namespace}/${name}, cannot be read: ${(error as Error).message}; nothing was created`,
        );
      },
    );
    const tagged = is?.status?.tags?.some((t) => t.tag === tag && (t.items?.length ?? 0) > 0);
    if (!tagged)
      throw new UnresolvedImageError(
        `${what}, ImageStreamTag ${namespace}/${name}, ${is ? "has no image" : "does not exist"}; nothing was created`,
      );
    return;
  }
  const registry = ctx.io.env.KILN_REGISTRY;
  const host = name.split("/")[0] ?? "";
  // Kiln's own registry (and a loopback one) is plain HTTP, as the engine dials it.
  const insecure = host === registry || /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host);
  try {
    await runChecked(
      "skopeo",
      ["inspect", "--raw", `--tls-verify=${!insecure}`, `docker://${name}`],
      { env: ctx.io.env, timeoutMs: 60_000 },
    );
  } catch (error) {
    throw new UnresolvedImageError(
      `${what}, ${name}, cannot be resolved: ${failure(error)}; nothing was created`,
    );
  }
}

async function getOrNull<T>(get: () => Promise<T>): Promise<T | null> {
  try {
    return await get();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function describe(detected: Detected, resolved: ResolvedTemplate | null): string {
  if (!resolved) return "Docker strategy: the repository's Dockerfile";
  const matched = detected.strategy === NewBuildStrategy.Source ? detected.matched : [];
  return `Source strategy with BuilderTemplate ${resolved.template} (version ${resolved.version}${
    matched.length ? `, detected by ${matched.join(", ")}` : ", named by --template"
  })`;
}

/** Why a command failed, in a line (see CommandFailedError.summary). */
const failure = (error: unknown) =>
  error instanceof CommandFailedError ? error.summary : (error as Error).message;
