import { backoffMs, type BackoffOptions } from "@kiln/runtime";

export type RestartPolicyOptions = {
  /** An exit this soon after the start is a fast failure. @default 10_000 */
  fastExitMs?: number;
  /**
   * After this many fast failures in a row the process is given up on: it fails the same way
   * each time (a broken config, a corrupt data dir), and restarting it forever would only hide
   * that. @default 5
   */
  maxFastExits?: number;
  /**
   * The wait before the restart after fast failure n (n = 1 after an exit that was not fast):
   * 500 ms doubling, so a crash is answered within a second and a crash loop costs little.
   * @default { baseMs: 500, maxMs: 30_000 }
   */
  backoff?: BackoffOptions;
};

export type RestartDecision =
  | {
      readonly action: "restart";
      /** Wait this long before starting it again. */
      readonly delayMs: number;
      /** Fast failures in a row so far, this one included (0 after an exit that was not fast). */
      readonly fastExits: number;
    }
  | { readonly action: "give-up"; readonly fastExits: number };

/**
 * When a supervised process that stopped by itself is started again, and when not. Pure: the
 * supervisor tells it how long each run lasted and does what it answers.
 */
export class RestartPolicy {
  readonly fastExitMs: number;
  readonly maxFastExits: number;
  private readonly backoff: BackoffOptions;
  private streak = 0;

  constructor(options: RestartPolicyOptions = {}) {
    this.fastExitMs = options.fastExitMs ?? 10_000;
    this.maxFastExits = options.maxFastExits ?? 5;
    this.backoff = options.backoff ?? { baseMs: 500, maxMs: 30_000 };
  }

  /**
   * What to do after the process ended having run `ranMs`; `null` when it never got going (its
   * start failed: it exited while starting, or never answered its readiness probe), which is
   * a fast failure however long the start took.
   */
  afterExit(ranMs: number | null): RestartDecision {
    if (ranMs !== null && ranMs >= this.fastExitMs) {
      // It worked for a while: whatever stopped it, start it again at once.
      this.streak = 0;
      return { action: "restart", delayMs: backoffMs(1, this.backoff), fastExits: 0 };
    }
    this.streak += 1;
    if (this.streak >= this.maxFastExits) return { action: "give-up", fastExits: this.streak };
    return {
      action: "restart",
      delayMs: backoffMs(this.streak, this.backoff),
      fastExits: this.streak,
    };
  }
}
