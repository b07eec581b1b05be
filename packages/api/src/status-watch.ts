import type { EventPayload } from "@kiln/bus";
import type { BusRelay } from "./bus-relay.js";

/**
 * How often a wait also reads PostgreSQL. The api hears build statuses through a plain NATS
 * subscription, and a publish made while its connection is away (a NATS restart, a reconnect)
 * is never delivered to it: without this, a start or a followed log would wait for ever for an
 * event that was missed. Slow on purpose: it is only the safety net, the event comes at once.
 */
const safetyCheckMs = 5_000;

export interface BuildStatusWaitOptions<T> {
  /** Whether a build status event may be what is waited for: then `look` runs at once. */
  concerns(event: EventPayload<"build.status-changed">): boolean;
  /** Reads whether it has happened: what was waited for, or null while it has not. */
  look(): Promise<T | null>;
  /** Gives up, resolving null, once aborted. */
  signal?: AbortSignal;
}

/**
 * Waits for something a build status event announces (a build's New, its end) without polling.
 * It listens first and then looks once, so what happened before it listened is found in
 * PostgreSQL and what happens after is heard; then it looks again on each event that concerns
 * it, and every `safetyCheckMs`. Looks never overlap: events heard during one make one more
 * after it. Rejects when a look fails.
 */
export function waitForBuildStatus<T>(
  relay: BusRelay,
  options: BuildStatusWaitOptions<T>,
): Promise<T | null> {
  const { signal } = options;
  return new Promise<T | null>((resolve, reject) => {
    let settled = false;
    let looking = false;
    let again = false;
    const settle = (end: () => void) => {
      if (settled) return;
      settled = true;
      stopListening();
      clearInterval(safety);
      signal?.removeEventListener("abort", onAbort);
      end();
    };
    const look = () => {
      if (settled) return;
      if (looking) {
        again = true;
        return;
      }
      looking = true;
      void options.look().then(
        (value) => {
          looking = false;
          if (value !== null) return settle(() => resolve(value));
          if (again) {
            again = false;
            look();
          }
        },
        (error: unknown) => settle(() => reject(error)),
      );
    };
    const onAbort = () => settle(() => resolve(null));
    const stopListening = relay.on("build.status-changed", (event) => {
      if (options.concerns(event)) look();
    });
    const safety = setInterval(look, safetyCheckMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    look();
  });
}
