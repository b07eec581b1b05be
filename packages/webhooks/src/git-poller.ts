import { requestBuild, type Bus } from "@kiln/bus";
import { listAllBuildConfigs, listBuilds, type Db } from "@kiln/db";
import { runCommand } from "@kiln/runtime";
import type { Logger } from "pino";

export interface GitPollerOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  /** How often every polled BuildConfig's ref is read. */
  intervalMs: number;
}

/**
 * The safety net for webhooks that never come: BuildConfigs with `spec.source.git.poll: true`
 * have their ref read with `git ls-remote` on an interval. A commit no build was made of
 * (whatever started it) gets one build, once: the request id is made of the BuildConfig and
 * the commit. The first read only notes where the ref is, so starting Kiln builds nothing.
 */
export class GitPoller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly seen = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly options: GitPollerOptions) {
    this.log = options.logger.child({ component: "git-poller" });
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pollAll()
        .catch((error: unknown) => {
          // PostgreSQL down (the BuildConfigs cannot be read): the next interval tries again,
          // and what it finds then is what the remote says then, so nothing is missed.
          this.log.warn({ err: error }, "git poll round failed");
        })
        .finally(() => (this.running = null));
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round over every polled BuildConfig, one at a time (a slow remote delays, never piles up). */
  async pollAll(): Promise<void> {
    for (const bc of await listAllBuildConfigs(this.options.db)) {
      const git = bc.spec.source.git;
      if (!git?.poll) continue;
      const key = `${bc.namespace}/${bc.name}`;
      const ref = git.ref ?? "HEAD";
      try {
        const commit = await lsRemote(git.uri, ref);
        if (!commit) continue;
        const previous = this.seen.get(key);
        if (previous === undefined || previous === commit) {
          this.seen.set(key, commit);
          continue;
        }
        const built = (
          await listBuilds(this.options.db, bc.namespace, { buildConfig: bc.name })
        ).some((b) => b.spec.revision.commit === commit);
        if (!built) await this.requestBuild(bc.namespace, bc.name, ref, commit);
        // Only now: had the request failed (NATS or PostgreSQL down), the next round would
        // look at this commit again, so a push found once is never dropped.
        this.seen.set(key, commit);
      } catch (error) {
        this.log.warn(
          { buildConfig: bc.name, namespace: bc.namespace, err: error },
          "git poll failed",
        );
      }
    }
  }

  /** One build of `commit`, once: the request id is made of the BuildConfig and the commit. */
  private async requestBuild(
    namespace: string,
    buildConfig: string,
    ref: string,
    commit: string,
  ): Promise<void> {
    await requestBuild(this.options.bus, {
      requestId: `poll-${namespace}-${buildConfig}-${commit}`,
      namespace,
      buildConfig,
      commit,
      env: [],
      cause: {
        type: "GitPush",
        message: `Polled ${ref}: ${commit} (no webhook announced it)`,
        commit,
      },
    });
    this.log.info({ buildConfig, namespace, commit }, "missed push found by polling");
  }
}

/** The commit a ref points at, or null; never prompts for credentials, never takes over 30 s. */
async function lsRemote(uri: string, ref: string): Promise<string | null> {
  const result = await runCommand({
    command: "git",
    args: [
      "ls-remote",
      "--",
      uri,
      ref.startsWith("refs/") || ref === "HEAD" ? ref : `refs/heads/${ref}`,
    ],
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true" },
    stdout: "capture",
    signal: AbortSignal.timeout(30_000),
  });
  if (result.aborted) throw new Error("git ls-remote took over 30 s");
  if (result.exitCode !== 0)
    throw new Error(`git ls-remote exited ${result.exitCode ?? result.signal}`);
  return /^([0-9a-f]{40,64})\s/m.exec(result.stdout)?.[1] ?? null;
}
