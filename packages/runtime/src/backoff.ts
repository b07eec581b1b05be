export interface BackoffOptions {
  /** The wait before the first retry, in ms. */
  baseMs: number;
  /** The longest wait, in ms. @default Infinity (callers with few attempts need no cap) */
  maxMs?: number;
}

/**
 * How long to wait before retry number `attempt` (1 = the first): `baseMs`, doubled for each
 * retry before it, never more than `maxMs`. Every retry in Kiln waits so; each caller keeps its
 * own numbers beside the reason for them.
 */
export function backoffMs(attempt: number, { baseMs, maxMs = Infinity }: BackoffOptions): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
