/**
 * Runs tasks one at a time per key, in the order they were queued; different keys run at once.
 * The deployer serialises image changes per tag (so an older change never lands after a newer
 * one) and patches per workload (so two tags of one workload never race).
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
