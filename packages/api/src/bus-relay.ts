import type { Bus, EventPayload } from "@kiln/bus";

/** The event types the api listens to (its role's `listens` in @kiln/bus). */
export type ListenedType = "build.status-changed" | "image.changed" | "deploy.status-changed";

type Listener<T extends ListenedType> = (payload: EventPayload<T>) => void;

/**
 * One plain NATS subscription per event type for the whole api process, opened with the first
 * listener of its type (or by `open`) and shared by every request that listens: each events
 * stream, each start waiting for its build to be numbered, each followed log waiting for its
 * build's end. The events are signals for whoever listens now (each listener reads the state
 * from PostgreSQL as well), so nothing durable is made per request.
 */
export class BusRelay {
  private readonly listeners = new Map<ListenedType, Set<Listener<never>>>();
  private readonly subscriptions = new Map<ListenedType, { stop(): void }>();

  constructor(private readonly bus: Bus) {}

  /** Subscribes to `type` now, if not yet: what is published from then on reaches its listeners. */
  open<T extends ListenedType>(type: T): void {
    if (this.subscriptions.has(type)) return;
    const listeners = this.listenersOf(type);
    this.subscriptions.set(
      type,
      this.bus.listen(type, (payload) => {
        for (const each of listeners) (each as Listener<T>)(payload);
      }),
    );
  }

  /** Calls `listener` with every event of `type` heard from now on, until the returned function is called. */
  on<T extends ListenedType>(type: T, listener: Listener<T>): () => void {
    this.open(type);
    const listeners = this.listenersOf(type);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  stop(): void {
    for (const subscription of this.subscriptions.values()) subscription.stop();
    this.subscriptions.clear();
  }

  private listenersOf(type: ListenedType): Set<Listener<never>> {
    let listeners = this.listeners.get(type);
    if (!listeners) this.listeners.set(type, (listeners = new Set()));
    return listeners;
  }
}
