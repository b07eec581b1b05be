import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BuildFailure,
  FailureReason,
  imageReferenceByDigest,
  type BuildEngine,
  type BuildJob,
  type BuildLogSink,
  type BuildOutputStatus,
} from "@kiln/domain";
import { Buildah } from "./buildah.js";
import { overrideLastFrom } from "./dockerfile.js";
import { fetchGitSource, type SourceRevision } from "./git-source.js";
import { runCommand } from "./run-command.js";

export interface LocalEngineOptions {
  /** Each build gets a fresh directory under this one, removed afterwards whatever the outcome. */
  workDir: string;
  /** buildah's storage; shared by builds so base images are pulled once. */
  storageDir: string;
  insecureRegistries: readonly string[];
  buildahBinary?: string;
  gitBinary?: string;
}

/**
 * The `local` engine: git and buildah on this host, daemonless and unprivileged
 * (chroot isolation, vfs storage). Docker strategy here; S2I comes with the build-engine issue.
 */
export class LocalEngine implements BuildEngine {
  private readonly buildah: Buildah;
  private prepared: Promise<void> | null = null;

  constructor(private readonly options: LocalEngineOptions) {
    this.buildah = new Buildah({
      storageDir: options.storageDir,
      insecureRegistries: options.insecureRegistries,
      ...(options.buildahBinary ? { binary: options.buildahBinary } : {}),
    });
  }

  async run(job: BuildJob, sink: BuildLogSink, signal: AbortSignal): Promise<BuildOutputStatus | null> {
    this.prepared ??= Promise.all([this.buildah.prepare(), mkdir(this.options.workDir, { recursive: true })]).then(() => undefined);
    await this.prepared;
    const dir = await mkdtemp(join(this.options.workDir, `${job.namespace}-${job.name}-`));
    // The tag buildah builds locally; the output name when there is one, else a private name.
    const localTag = job.spec.output.image ?? `localhost/kiln/${job.namespace}/${job.name}:latest`;
    try {
      const { spec } = job;
      const srcDir = join(dir, "src");
      let revision: SourceRevision | null = null;
      sink.step("FetchSource");
      if (spec.source.git) {
        sink.line(`Cloning ${spec.source.git.uri}${spec.revision.commit ? ` at ${spec.revision.commit}` : spec.source.git.ref ? ` (${spec.source.git.ref})` : ""}`);
        revision = await fetchGitSource({
          uri: spec.source.git.uri,
          ref: spec.source.git.ref,
          commit: spec.revision.commit,
          dir: srcDir,
          onLine: (l) => sink.line(l),
          signal,
          ...(this.options.gitBinary ? { gitBinary: this.options.gitBinary } : {}),
        });
        sink.line(`Commit ${revision.commit} (${revision.message}) by ${revision.author}`);
        sink.sourceFetched(revision);
      } else {
        await mkdir(srcDir);
      }
      if (spec.strategy.type !== "Docker") {
        throw new BuildFailure(FailureReason.InternalError, `strategy ${spec.strategy.type} is not available in this Kiln version yet`);
      }
      const contextDir = join(srcDir, spec.source.contextDir ?? "");
      const docker = spec.strategy.dockerStrategy ?? {};
      let dockerfile = spec.source.dockerfile ?? (await readDockerfile(join(contextDir, docker.dockerfilePath ?? "Dockerfile")));
      if (docker.from) dockerfile = overrideLastFrom(dockerfile, docker.from.name);
      const dockerfilePath = join(dir, "Dockerfile.kiln");
      await writeFile(dockerfilePath, dockerfile);

      sink.step("Build");
      const labels = outputLabels(job, revision);
      const args = [
        ...this.buildah.globalArgs(),
        "bud",
        "--isolation",
        "chroot",
        "--file",
        dockerfilePath,
        "--tag",
        localTag,
        ...labels.flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        ...(docker.buildArgs ?? []).flatMap((a) => ["--build-arg", `${a.name}=${a.value}`]),
        ...[...(docker.env ?? []), ...spec.env].flatMap((e) => ["--env", `${e.name}=${e.value}`]),
        ...(docker.noCache ? ["--no-cache"] : []),
        ...(docker.forcePull ? ["--pull=always"] : []),
        ...(docker.target ? ["--target", docker.target] : []),
        contextDir,
      ];
      await this.buildahStep(args, FailureReason.DockerBuildFailed, "the Dockerfile build failed", sink, signal);

      const image = job.spec.output.image;
      if (!image) {
        sink.line("No output image configured: the image was built and not pushed");
        return null;
      }
      sink.step("Push");
      const digestFile = join(dir, "digest");
      await this.buildahStep(
        [...this.buildah.globalArgs(), "push", "--digestfile", digestFile, localTag, `docker://${image}`],
        FailureReason.PushFailed,
        `pushing ${image} failed`,
        sink,
        signal,
      );
      const digest = (await readFile(digestFile, "utf8")).trim();
      const imageReference = imageReferenceByDigest(image, digest);
      sink.line(`Pushed ${imageReference}`);
      return { image, digest, imageReference };
    } finally {
      // Whatever happened: no work dir and no local image left behind by this build.
      await rm(dir, { recursive: true, force: true });
      await runCommand({ command: this.buildah.binary, args: [...this.buildah.globalArgs(), "rmi", "--force", localTag], env: this.buildah.env() }).catch(() => undefined);
    }
  }

  private async buildahStep(args: string[], reason: FailureReason, message: string, sink: BuildLogSink, signal: AbortSignal): Promise<void> {
    const result = await runCommand({ command: this.buildah.binary, args, env: this.buildah.env(), onLine: (l) => sink.line(l), signal });
    if (result.aborted) throw signal.reason;
    if (result.exitCode !== 0) throw new BuildFailure(reason, `${message} (exit ${result.exitCode ?? result.signal})`);
  }
}

async function readDockerfile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    throw new BuildFailure(FailureReason.DockerBuildFailed, `no Dockerfile at ${path.split("/src/").pop() ?? path} in the source`);
  }
}

/** OpenShift's source labels plus Kiln's own, so an image says where it came from. */
function outputLabels(job: BuildJob, revision: SourceRevision | null): [string, string][] {
  const labels: [string, string][] = [
    ["io.openshift.build.name", job.name],
    ["io.openshift.build.namespace", job.namespace],
    ["kiln.dev/buildconfig", job.spec.buildConfig],
    ["kiln.dev/build", job.name],
    ["kiln.dev/build-number", String(job.spec.number)],
  ];
  if (job.spec.source.git) labels.push(["io.openshift.build.source-location", job.spec.source.git.uri]);
  if (revision) {
    labels.push(
      ["io.openshift.build.commit.id", revision.commit],
      ["io.openshift.build.commit.author", revision.author],
      ["io.openshift.build.commit.date", revision.date],
      ["io.openshift.build.commit.message", revision.message],
    );
    if (revision.ref) labels.push(["io.openshift.build.commit.ref", revision.ref]);
  }
  for (const l of job.spec.output.imageLabels) labels.push([l.name, l.value]);
  return labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
