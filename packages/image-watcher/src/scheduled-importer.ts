import { currentTag, listAllImageStreams, type Db } from "@kiln/db";
import type { Logger } from "pino";
import { ManifestNotFoundError } from "./errors.js";
import { digestReference } from "@kiln/registry";
import { backoffMs } from "@kiln/runtime";
import type { ManifestResolver } from "./manifest-resolver.js";
import type { TagRecorder } from "@kiln/image-tags";
import { scheduledTargets, type TargetOptions } from "./tag-targets.js";

export interface ScheduledImporterOptions extends TargetOptions {
  db: Db;
  recorder: TagRecorder;
  resolver: ManifestResolver;
  logger: Logger;
  /** Least time between two imports of one tag (`IMAGE_WATCHER_IMPORT_INTERVAL_MS`). @default 60000 */
  intervalMs?: number;
  /** Longest wait after repeated failures. @default 1 hour, or 10 intervals when that is longer */
  maxBackoffMs?: number;
}

/**
 * Polls tags with `importPolicy.scheduled: true` for registries that send no notifications:
 * HEAD the manifest, compare digests, record a change (cause Import). One import at a time,
 * each tag at most once per interval; a failing tag waits twice as long each time.
 */
export class ScheduledImporter {
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;
  private readonly state = new Map<string, { dueAt: number; failures: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Rounds in a row that could not even list the ImageStreams. */
  private failedRounds = 0;

  constructor(private readonly options: ScheduledImporterOptions) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxBackoffMs = options.maxBackoffMs ?? Math.max(3_600_000, this.intervalMs * 10);
    this.log = options.logger.child({ component: "scheduled-importer" });
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    // A tick never overlaps the previous one: the next is armed only once this one has ended.
    this.timer = setTimeout(() => {
      const every = Math.min(this.intervalMs, 1_000);
      this.running = this.tick()
        .then(
          () => {
            this.failedRounds = 0;
            return every;
          },
          (error: unknown) => {
            // The ImageStreams could not be read (PostgreSQL down): try again, each time
            // waiting twice as long, up to the interval, rather than failing every second.
            this.failedRounds += 1;
            const waitMs = backoffMs(this.failedRounds, { baseMs: every, maxMs: this.intervalMs });
            this.log.error(
              { err: error, failures: this.failedRounds, waitMs },
              "import round failed",
            );
            return waitMs;
          },
        )
        .then((waitMs) => this.schedule(waitMs));
    }, delayMs);
  }

  /** Imports every scheduled tag that is due, one after the other. */
  async tick(now = Date.now()): Promise<void> {
    const targets = scheduledTargets(await listAllImageStreams(this.options.db), this.options);
    const live = new Set<string>();
    for (const target of targets) {
      if (this.stopped) return;
      const key = `${target.namespace}/${target.imageStream}:${target.tag}`;
      live.add(key);
      const state = this.state.get(key) ?? { dueAt: 0, failures: 0 };
      if (state.dueAt > now) continue;
      try {
        const digest = await this.options.resolver.resolve(target.source, {
          insecure: target.insecure,
        });
        const current = await currentTag(
          this.options.db,
          target.namespace,
          target.imageStream,
          target.tag,
        );
        if (current?.digest !== digest) {
          await this.options.recorder.record({
            namespace: target.namespace,
            imageStream: target.imageStream,
            tag: target.tag,
            digest,
            imageReference: digestReference(target.source, digest),
            cause: {
              type: "Import",
              message: `imported from ${target.source.registry}/${target.source.repository}:${target.source.tag}`,
            },
          });
        }
        this.state.set(key, { dueAt: Date.now() + this.intervalMs, failures: 0 });
      } catch (error) {
        const failures = state.failures + 1;
        // Two intervals after one failure, four after two, …; the exponent stops at 20.
        const waitMs = backoffMs(Math.min(failures, 20) + 1, {
          baseMs: this.intervalMs,
          maxMs: this.maxBackoffMs,
        });
        this.state.set(key, { dueAt: Date.now() + waitMs, failures });
        const level = error instanceof ManifestNotFoundError ? "info" : "warn";
        this.log[level](
          {
            err: error,
            namespace: target.namespace,
            imageStream: target.imageStream,
            tag: target.tag,
            failures,
            waitMs,
          },
          "scheduled import failed",
        );
      }
    }
    for (const key of this.state.keys()) if (!live.has(key)) this.state.delete(key);
  }
}
