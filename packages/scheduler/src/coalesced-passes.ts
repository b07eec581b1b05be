/**
 * Runs a pass at a time. A request made while a pass runs joins the next pass (its input merged
 * with the other requests'), and resolves or rejects with that pass: whoever asks learns that a
 * pass which started after the ask has finished, which is what a handler needs before it acks.
 */
export class CoalescedPasses<T> {
  private running: Promise<void> | null = null;
  private next: { promise: Promise<void>; input: T } | null = null;

  constructor(
    private readonly pass: (input: T) => Promise<void>,
    private readonly merge: (into: T, more: T) => T,
  ) {}

  request(input: T): Promise<void> {
    if (this.next) {
      this.next.input = this.merge(this.next.input, input);
      return this.next.promise;
    }
    const previous = this.running ?? Promise.resolve();
    const next: { promise: Promise<void>; input: T } = { promise: Promise.resolve(), input };
    next.promise = previous
      .catch(() => undefined)
      .then(() => {
        // From here on, new requests wait for the pass after this one.
        this.next = null;
        const run = this.pass(next.input).finally(() => {
          if (this.running === run) this.running = null;
        });
        this.running = run;
        return run;
      });
    this.next = next;
    return next.promise;
  }
}

/** Runs `fn` over `items` with at most `limit` at a time; rejects with the first failure after all settle. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let index = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (index < items.length) {
      const item = items[index]!;
      index += 1;
      await fn(item).catch((e: unknown) => errors.push(e));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
