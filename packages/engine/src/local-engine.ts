import { access, constants, mkdir, mkdtemp, readdir, readFile, rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  FailureReason,
  imageReferenceByDigest,
  type BuildEngine,
  type BuildJob,
  type BuildLogSink,
  type BuildOutputStatus,
  type BuildRevision,
  type UidRange,
} from "@kiln/domain";
import { RegistryClient } from "@kiln/registry";
import type { Logger } from "pino";
import { Buildah, type StoreContainer } from "./buildah.js";
import { ImageCache } from "./image-cache.js";
import { BuildIsolation, type BuildHost } from "./isolation/types.js";
import { authArgs, writeAuthFiles } from "./auth-files.js";
import { buildahStep, type BuildContext } from "./build-context.js";
import { dockerBuild, layerAppendDockerBuild } from "./docker-build.js";
import { fetchSource } from "./source-fetch.js";
import { copyImageSources } from "./image-sources.js";
import { pushedImageSize } from "./pushed-image.js";
import { runPostCommitHook } from "./post-commit.js";
import { newRunnerId, RunnerClaim } from "./runner-claim.js";
import { pullS2IImages, s2iBuild, type S2IImages } from "./s2i/s2i-build.js";

/** Less room than this in the work dir or the store and no build could get far (a layer alone is more). */
const minFreeMiB = 100;

export interface LocalEngineOptions {
  /** Each build gets a fresh directory under this one, removed afterwards whatever the outcome. */
  workDir: string;
  /** buildah's storage; shared by builds so base images are pulled once. */
  storageDir: string;
  /** How this host contains builds (`prepareBuildHost`, run once before the engine is made). */
  host: BuildHost;
  insecureRegistries: readonly string[];
  buildahBinary?: string;
  gitBinary?: string;
  /** Largest unpacked binary input (`--from-file/--from-dir/--from-archive`). @default 2 GiB */
  maxInputBytes?: number;
  /**
   * OpenShift's allowed-UIDs rule for S2I assemble (and runtime image) users, e.g. `1-4294967294`
   * parsed with `parseUidRanges`: root and named users are refused. Empty allows every user.
   * @default [] (main.ts passes BUILD_RUNNER_ALLOWED_UIDS, which defaults to non-root)
   */
  allowedUids?: readonly UidRange[];
  /**
   * Keep pulled images between builds up to this many bytes, evicting the least recently used
   * (`ImageCache`). Unset: no eviction (a build pod's store goes with the pod).
   */
  imageCacheBytes?: number;
  /** Says what the image cache evicted, and what crashed runners left that `start` removed. */
  logger?: Logger;
  /** This runner instance's id (`newRunnerId`), in its work dirs' and containers' names. @default a new one */
  runnerId?: string;
  /**
   * Docker builds that only place context files on their base are written and pushed without
   * buildah (layer-append). Off: every build runs buildah. @default true
   */
  layerAppend?: boolean;
}

/**
 * The `local` engine: git and buildah on this host, daemonless, as the unprivileged build user,
 * each build step in its own namespaces (see `prepareBuildHost`). Fetch the source, run the
 * strategy, push by digest.
 */
export class LocalEngine implements BuildEngine {
  private readonly buildah: Buildah;
  private readonly registry = new RegistryClient();
  private prepared: Promise<void> | null = null;
  private started: Promise<void> | null = null;
  /** The runner's claims on its work dirs and containers, held until `stop` or this process ends. */
  private claims: RunnerClaim[] = [];
  private readonly cache: ImageCache | null;
  /** This runner instance: its builds' work dirs are below `kiln-runner-<id>`, its containers marked with it. */
  readonly runnerId: string;

  constructor(private readonly options: LocalEngineOptions) {
    this.runnerId = options.runnerId ?? newRunnerId();
    this.buildah = new Buildah({
      storageDir: options.storageDir,
      host: options.host,
      insecureRegistries: options.insecureRegistries,
      owner: this.runnerId,
      ...(options.buildahBinary ? { binary: options.buildahBinary } : {}),
    });
    this.cache =
      options.imageCacheBytes === undefined
        ? null
        : new ImageCache({
            buildah: this.buildah,
            limitBytes: options.imageCacheBytes,
            stateFile: join(options.storageDir, "image-cache.json"),
          });
  }

  async run(
    job: BuildJob,
    sink: BuildLogSink,
    signal: AbortSignal,
  ): Promise<BuildOutputStatus | null> {
    await this.start();
    const workDir = await mkdtemp(join(this.runnerDir, `${job.namespace}-${job.name}-`));
    let ctx: BuildContext | undefined;
    let keepImage = false;
    // The pull ends with the build: a failed fetch must not leave it running.
    const pullAbort = new AbortController();
    const stopPull = () => pullAbort.abort(signal.reason);
    signal.addEventListener("abort", stopPull, { once: true });
    let s2iImages: Promise<S2IImages> | undefined;
    try {
      const auth = await writeAuthFiles(workDir, job.credentials);
      if (job.spec.strategy.type === "Source") {
        // An S2I builder needs nothing of the source: pull and inspect it while the source is fetched.
        s2iImages = pullS2IImages({
          job,
          buildah: this.buildah,
          pullAuthFile: auth.pull,
          signal: pullAbort.signal,
        });
        s2iImages.catch(() => undefined);
      }
      const revision = await this.fetch(job, workDir, sink, signal);
      ctx = this.context(job, workDir, revision, sink, signal, auth);
      const output = await this.strategyAndPush(ctx, s2iImages);
      keepImage = Boolean(output && job.spec.strategy.sourceStrategy?.incremental);
      return output;
    } finally {
      signal.removeEventListener("abort", stopPull);
      pullAbort.abort();
      await s2iImages?.catch(() => undefined);
      // Whatever happened: no work dir and no local image left behind by this build (a build
      // that pushed straight from its commit, or never got to commit, has none); except the
      // pushed output of an incremental build, kept under the output's name so that the next
      // build's save-artifacts finds its layers here (one image per BuildConfig: the name moves
      // to each new build's image, and the one it moved off is pruned).
      const output = job.spec.output.image;
      const buildah = (...args: string[]) => this.buildah.run(args).catch(() => undefined);
      const removeImage = async () => {
        if (
          keepImage &&
          output &&
          (await buildah("tag", localTagOf(job), output))?.exitCode === 0
        ) {
          await buildah("rmi", localTagOf(job));
          await buildah("rmi", "--prune");
        } else if (ctx?.localImageCommitted) {
          await buildah("rmi", "--force", localTagOf(job));
        }
      };
      await Promise.all([
        rm(workDir, { recursive: true, force: true }),
        removeImage(),
        // buildah removes its containers when told to stop; one killed after its grace could not.
        signal.aborted
          ? this.removeContainers((c) => c.runner === this.runnerId && c.build === job.id)
          : undefined,
      ]);
      // After the build has its result: the cache's bookkeeping is not on its path.
      if (ctx) this.trimCache(ctx);
    }
  }

  private trimCache(ctx: BuildContext): void {
    if (!this.cache) return;
    const log = this.options.logger;
    this.cache.usedThenTrim([...ctx.usedImages]).then(
      (evicted) => {
        for (const image of evicted)
          log?.info(
            { imageId: image.id, names: image.names, bytes: image.bytes },
            "image cache: evicted the least recently used image",
          );
      },
      (error: unknown) => log?.warn({ err: error }, "image cache: trimming failed"),
    );
  }

  /** The first stage (`fetchSource`), with the chroot-unsafe warning on top of the log. */
  async fetch(
    job: BuildJob,
    workDir: string,
    sink: BuildLogSink,
    signal: AbortSignal,
  ): Promise<BuildRevision | null> {
    if (this.options.host.isolation === BuildIsolation.ChrootUnsafe)
      sink.line(chrootUnsafeWarning(this.options.host.user.name));
    return fetchSource(job, workDir, sink, signal, this.options);
  }

  /**
   * The second stage on its own: builds the source `fetch` left in `<workDir>/src` with the
   * job's strategy and pushes the output by digest. Leaves its files in `workDir` and any local
   * image in buildah's store: cleaning up is the caller's (a pod's volumes go with the pod).
   * The `kubernetes` engine's build container calls it.
   */
  async buildAndPush(
    job: BuildJob,
    workDir: string,
    revision: BuildRevision | null,
    sink: BuildLogSink,
    signal: AbortSignal,
  ): Promise<BuildOutputStatus | null> {
    await this.prepare();
    const ctx = this.context(
      job,
      workDir,
      revision,
      sink,
      signal,
      await writeAuthFiles(workDir, job.credentials),
    );
    return this.strategyAndPush(ctx, undefined);
  }

  private context(
    job: BuildJob,
    workDir: string,
    revision: BuildRevision | null,
    sink: BuildLogSink,
    signal: AbortSignal,
    auth: { pull: string | null; push: string | null },
  ): BuildContext {
    return {
      job,
      sink,
      signal,
      buildah: this.buildah,
      registry: this.registry,
      workDir,
      sourceDir: join(workDir, "src"),
      localTag: localTagOf(job),
      localImageCommitted: false,
      usedImages: new Set(),
      revision,
      pullAuthFile: auth.pull,
      pushAuthFile: auth.push,
    };
  }

  /**
   * The strategy, the post-commit hook, then the push by digest; `s2iImages`: the S2I images
   * `run` began pulling before the fetch.
   */
  private async strategyAndPush(
    ctx: BuildContext,
    s2iImages: Promise<S2IImages> | undefined,
  ): Promise<BuildOutputStatus | null> {
    const { job } = ctx;
    // Image sources land in the context of either strategy (OpenShift: spec.source.images).
    await copyImageSources(ctx, job.spec.source.contextDir ?? "");
    const strategy = job.spec.strategy.type;
    if (strategy === "Docker") {
      // A Dockerfile that only places context files on its base needs no buildah (layer-append).
      const pushed = await layerAppendDockerBuild(ctx, this.options.layerAppend ?? true);
      if (pushed) return pushed;
    }
    switch (strategy) {
      case "Docker":
        await dockerBuild(ctx);
        await runPostCommitHook(ctx);
        return this.push(ctx);
      case "Source": {
        // Pushed as it committed only when there is no hook (see s2iBuild).
        const pushed = await s2iBuild(
          ctx,
          { allowedUids: this.options.allowedUids ?? [] },
          s2iImages,
        );
        if (pushed) return pushed;
        await runPostCommitHook(ctx);
        return this.push(ctx);
      }
      default:
        // Validation admits only Docker and Source; anything else is a stored spec from the future.
        throw new BuildFailure(
          FailureReason.InternalError,
          `unknown strategy ${strategy as string}`,
        );
    }
  }

  /**
   * Usable when its work dir and image store can be written and have room: a read-only or
   * full disk fails every build at its first step, so the runner is better not ready.
   */
  async check(): Promise<string | null> {
    try {
      await this.prepare();
      for (const dir of [this.options.workDir, this.buildah.storageRoot]) {
        await access(dir, constants.W_OK);
        const { bavail, bsize } = await statfs(dir);
        const freeMiB = Math.floor((bavail * bsize) / 2 ** 20);
        if (freeMiB < minFreeMiB) return `${dir} has ${freeMiB} MiB free (under ${minFreeMiB} MiB)`;
      }
      return null;
    } catch (error) {
      return `unusable: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /**
   * Claims this runner's part of the work dir and of the store, then removes what runners that
   * are gone (killed, crashed, the machine restarted) left there: their work dirs and their
   * containers, and nothing a live runner or anyone but Kiln made. Once, before the first
   * build; the runner calls it at start.
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.prepare();
      const runners = this.runnersDir;
      await mkdir(runners, { recursive: true, mode: 0o700 });
      this.claims = [
        await RunnerClaim.take(this.options.workDir, this.runnerId),
        await RunnerClaim.take(runners, this.runnerId),
      ];
      await mkdir(this.runnerDir, { mode: 0o700 });
      const workDirs = await this.removeDeadRunnersWorkDirs();
      const containers = await this.removeContainers(
        (c) => c.runner !== null && !RunnerClaim.isHeld(runners, c.runner),
      );
      await RunnerClaim.removeUnheld(runners);
      if (workDirs.length > 0 || containers.length > 0)
        this.options.logger?.info(
          { runnerId: this.runnerId, workDirs, containers },
          "removed what stopped runners left behind",
        );
    })();
    return this.started;
  }

  /**
   * Once the runner's builds have ended: removes its (now empty) part of the work dir and its
   * claims, so a runner that stopped cleanly leaves nothing for the next one to sweep.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    await this.started.catch(() => undefined);
    await rm(this.runnerDir, { recursive: true, force: true });
    for (const claim of this.claims) await claim.release();
    this.claims = [];
  }

  private get runnerDir(): string {
    return join(this.options.workDir, `kiln-runner-${this.runnerId}`);
  }

  private get runnersDir(): string {
    return join(this.options.storageDir, "runners");
  }

  /** The work dirs (`kiln-runner-<id>`) of runners whose claim no process holds; removed. */
  private async removeDeadRunnersWorkDirs(): Promise<string[]> {
    const root = this.options.workDir;
    const removed: string[] = [];
    for (const entry of await readdir(root)) {
      const id = /^kiln-runner-([0-9a-f]+)$/.exec(entry)?.[1];
      if (id === undefined || id === this.runnerId || RunnerClaim.isHeld(root, id)) continue;
      await rm(join(root, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    await RunnerClaim.removeUnheld(root);
    return removed;
  }

  /** Removes the store's containers `which` picks among those Kiln marked; says which went. */
  private async removeContainers(which: (c: StoreContainer) => boolean): Promise<string[]> {
    const removed: string[] = [];
    try {
      for (const container of await this.buildah.containers()) {
        if (container.runner === null || !which(container)) continue;
        const result = await this.buildah.run(["rm", container.id]);
        if (result.exitCode === 0) removed.push(container.name);
        else
          this.options.logger?.warn(
            { container: container.name, exitCode: result.exitCode },
            "could not remove a container a stopped build left",
          );
      }
    } catch (error) {
      this.options.logger?.warn({ err: error }, "could not list the store's containers");
    }
    return removed;
  }

  /** buildah's registries.conf and store, and the root of the work dirs: once per engine. */
  private prepare(): Promise<void> {
    this.prepared ??= Promise.all([
      this.buildah.prepare(),
      mkdir(this.options.workDir, { recursive: true }),
    ]).then(() => undefined);
    return this.prepared;
  }

  private async push(ctx: BuildContext): Promise<BuildOutputStatus | null> {
    const image = ctx.job.spec.output.image;
    if (!image) {
      ctx.sink.line("No output image configured: the image was built and not pushed");
      return null;
    }
    ctx.sink.step("Push");
    const digestFile = join(ctx.workDir, "digest");
    await buildahStep(
      ctx,
      [
        "push",
        ...authArgs(ctx.pushAuthFile),
        "--digestfile",
        digestFile,
        ctx.localTag,
        `docker://${image}`,
      ],
      FailureReason.PushFailed,
      `pushing ${image} failed`,
    );
    const digest = (await readFile(digestFile, "utf8")).trim();
    const imageReference = imageReferenceByDigest(image, digest);
    ctx.sink.line(`Pushed ${imageReference}`);
    const size = await pushedImageSize(ctx, imageReference);
    return { image, digest, imageReference, ...(size === undefined ? {} : { size }) };
  }
}

/**
 * The tag buildah builds locally: the build's own name, never the output's, so two builds of
 * one BuildConfig running side by side (runPolicy Parallel) never push each other's image.
 */
function localTagOf(job: BuildJob): string {
  return `localhost/kiln/${job.namespace}/${job.name}:latest`;
}

/** The first line of every build's log under `chroot-unsafe`: nobody should miss it. */
function chrootUnsafeWarning(user: string): string {
  return `WARNING: chroot isolation (BUILD_RUNNER_ISOLATION=chroot-unsafe, or BUILD_RUNNER_KUBE_ISOLATION=pod in a build pod): this build's steps run as ${user} with buildah's chroot isolation, which is no security boundary: they reach every process, file and network ${user} reaches here`;
}
