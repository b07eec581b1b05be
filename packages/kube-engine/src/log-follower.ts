import { PassThrough } from "node:stream";
import { createInterface } from "node:readline";
import type { Log } from "@kubernetes/client-node";

export interface FollowContainerLogOptions {
  log: Log;
  namespace: string;
  pod: string;
  container: string;
  onLine: (line: string) => void;
  /** Stops following (the build ended or was cancelled). */
  signal: AbortSignal;
  /** Whether the container has ended (or its pod is gone): a log stream that ends before that is reopened. */
  hasEnded: () => Promise<boolean>;
  /** Pause before reopening a stream that ended early. @default 1000 */
  retryMs?: number;
  /** Reopenings at most, so a broken API server cannot keep a build busy for ever. @default 100 */
  maxReopen?: number;
}

/**
 * `2024-05-01T10:00:00.123456789Z` → a comparable key. The API server's timestamps are
 * RFC 3339 with up to 9 fraction digits and trailing zeros dropped, so they do not sort as text.
 */
function timestampKey(ts: string): string | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}` : null;
}

/**
 * Streams a container's log (`follow=true`) line by line until the container ends. Lines come
 * with the API server's timestamps so that a stream closed early (API server or kubelet
 * timeouts on long builds) is reopened from the last line seen, without repeating a line.
 * Never rejects: a log that cannot be read costs lines, not the build.
 */
export async function followContainerLog(options: FollowContainerLogOptions): Promise<void> {
  const { signal } = options;
  // The newest timestamp seen, and how many lines carried it (one write of several lines
  // gives them all the same timestamp, so equal timestamps are counted, not skipped).
  let last: string | null = null;
  let atLast = 0;
  let lastTimestamp: string | undefined;
  for (let attempt = 0; attempt <= (options.maxReopen ?? 100) && !signal.aborted; attempt++) {
    // A stream opened after the container ended holds the whole log: when it ends, we are done.
    // One opened before may have been closed early (or have ended with the container, which
    // cannot be told apart), so it is opened once more from its last line.
    const endedBefore = await options.hasEnded().catch(() => true);
    if (attempt > 0 && !endedBefore) {
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1000));
      if (signal.aborted) return;
    }
    const stream = new PassThrough();
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let request: AbortController;
    try {
      request = await options.log.log(options.namespace, options.pod, options.container, stream, {
        follow: true,
        timestamps: true,
        ...(lastTimestamp ? { sinceTime: lastTimestamp } : {}),
      });
    } catch {
      // Not started yet, or the pod is gone: ask again unless the container has ended.
      lines.close();
      if (endedBefore) return;
      continue;
    }
    const stop = () => {
      request.abort();
      stream.end();
    };
    signal.addEventListener("abort", stop, { once: true });
    // A reopened stream starts at the second of the last line: skip what was already passed on.
    const seenUpTo = last as string | null;
    let equalToSkip = atLast;
    try {
      for await (const raw of lines) {
        const space = raw.indexOf(" ");
        const key = space > 0 ? timestampKey(raw.slice(0, space)) : null;
        if (key === null) {
          // A line without a timestamp (a server that ignores `timestamps`): pass it on as it is.
          options.onLine(raw);
          continue;
        }
        if (seenUpTo !== null && key < seenUpTo) continue;
        if (seenUpTo !== null && key === seenUpTo && equalToSkip > 0) {
          equalToSkip--;
          continue;
        }
        atLast = key === last ? atLast + 1 : 1;
        last = key;
        lastTimestamp = raw.slice(0, space);
        options.onLine(raw.slice(space + 1));
      }
    } finally {
      signal.removeEventListener("abort", stop);
    }
    if (endedBefore) return;
  }
}
