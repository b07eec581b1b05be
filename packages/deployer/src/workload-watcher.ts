import type { WorkloadKind, WorkloadObject } from "@kiln/domain";
import { backoffMs } from "@kiln/runtime";
import type { Logger } from "pino";
import type { KubeWorkloadApi, WatchEvent } from "./kube-api.js";

export type WorkloadChange = { type: "ADDED" | "MODIFIED" | "DELETED"; object: WorkloadObject };

export interface WorkloadWatcherOptions {
  api: KubeWorkloadApi;
  kind: WorkloadKind;
  namespace: string;
  logger: Logger;
  /** Called for every change, in order, including the ADDED of the first list. */
  onChange: (change: WorkloadChange) => void;
  /** First wait after a failed list or watch; doubles to 30 s. @default 500 */
  retryDelayMs?: number;
}

/**
 * Keeps a local copy of one kind of workload in one namespace: list, then watch from the list's
 * resourceVersion, for ever. Like client-go's reflector, and unlike client-node's informer (which
 * asks for no bookmarks and stops for good on any error but 410):
 * - it asks for bookmarks and keeps their resourceVersion, so a dropped watch resumes from a
 *   recent version instead of one the server may have compacted away;
 * - a 410 Gone/Expired (an ERROR event or an HTTP 410) makes it list again, and the difference
 *   between its copy and the new list comes out as ADDED/MODIFIED/DELETED changes;
 * - any other failure is retried with backoff; a watch closed by the server is reopened at once.
 */
export class WorkloadWatcher {
  private readonly objects = new Map<string, WorkloadObject>();
  private resourceVersion = "";
  private stopped = false;
  private closeWatch: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly log: Logger;
  private markSynced!: () => void;
  /** Resolves once the first list has been applied. */
  readonly synced: Promise<void>;
  private isSynced = false;

  constructor(private readonly options: WorkloadWatcherOptions) {
    this.log = options.logger.child({
      component: "workload-watcher",
      kind: options.kind,
      namespace: options.namespace,
    });
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closeWatch?.();
    this.wake?.();
    await this.loop;
  }

  get(name: string): WorkloadObject | undefined {
    return this.objects.get(name);
  }

  list(): WorkloadObject[] {
    return [...this.objects.values()];
  }

  private async run(): Promise<void> {
    const retry = { baseMs: this.options.retryDelayMs ?? 500, maxMs: 30_000 };
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === "") await this.relist();
        const outcome = await this.watchOnce();
        if (outcome === "expired") {
          this.log.info({ resourceVersion: this.resourceVersion }, "watch expired; listing again");
          this.resourceVersion = "";
        }
        failures = 0;
      } catch (error) {
        if (this.stopped) break;
        // A 410 on the watch request itself (some servers answer so instead of an ERROR event).
        if (
          (error as { statusCode?: number; code?: number }).statusCode === 410 ||
          (error as { code?: number }).code === 410
        ) {
          this.resourceVersion = "";
          continue;
        }
        failures += 1;
        const delay = backoffMs(failures, retry);
        this.log.warn({ err: error, delayMs: delay }, "workload watch failed; retrying");
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.options.api.list(
      this.options.kind,
      this.options.namespace,
    );
    const seen = new Set<string>();
    for (const object of items) {
      const name = object.metadata.name;
      seen.add(name);
      const old = this.objects.get(name);
      this.objects.set(name, object);
      if (!old) this.emit({ type: "ADDED", object });
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion)
        this.emit({ type: "MODIFIED", object });
    }
    for (const [name, object] of [...this.objects]) {
      if (seen.has(name)) continue;
      this.objects.delete(name);
      this.emit({ type: "DELETED", object });
    }
    this.resourceVersion = resourceVersion;
    if (!this.isSynced) {
      this.isSynced = true;
      this.markSynced();
    }
  }

  /** One watch stream, until the server closes it ("closed") or says the version is gone ("expired"). */
  private watchOnce(): Promise<"closed" | "expired"> {
    return new Promise((resolve, reject) => {
      let expired = false;
      let done = false;
      const finish = (error: unknown) => {
        if (done) return;
        done = true;
        this.closeWatch = undefined;
        if (error && !this.stopped && !expired) reject(error);
        else resolve(expired ? "expired" : "closed");
      };
      const onEvent = (event: WatchEvent) => {
        switch (event.type) {
          case "BOOKMARK":
            if (event.resourceVersion) this.resourceVersion = event.resourceVersion;
            return;
          case "ERROR":
            if (event.status.code === 410) expired = true;
            else this.log.warn({ status: event.status }, "watch error event");
            return;
          case "ADDED":
          case "MODIFIED":
            this.objects.set(event.object.metadata.name, event.object);
            break;
          case "DELETED":
            this.objects.delete(event.object.metadata.name);
            break;
        }
        if (event.object.metadata.resourceVersion)
          this.resourceVersion = event.object.metadata.resourceVersion;
        this.emit({ type: event.type, object: event.object });
      };
      // Servers end a watch after timeoutSeconds; a random one spreads the reconnects, as client-go does.
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      this.options.api
        .watch(this.options.kind, this.options.namespace, this.resourceVersion, onEvent, finish, {
          timeoutSeconds,
        })
        .then(
          (close) => {
            if (done || this.stopped) close();
            else this.closeWatch = close;
          },
          (error: unknown) => finish(error ?? new Error("watch failed")),
        );
    });
  }

  private emit(change: WorkloadChange): void {
    try {
      this.options.onChange(change);
    } catch (error) {
      this.log.error(
        { err: error, name: change.object.metadata.name },
        "workload change handler failed",
      );
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
