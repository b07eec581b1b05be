import type { BuildStep } from "@kiln/domain";
import type { StepMetrics } from "@kiln/runtime";

/**
 * Times a build's steps as its log marks them (`--> FetchSource`): each from its marker to the
 * next one, the last to the build's end. What an engine runs in parallel (an S2I build pulls its
 * images while the source is fetched, and shows the pull after it) is timed as the log shows it.
 */
export class StepTimer {
  private current: { step: BuildStep; since: number } | null = null;

  constructor(
    private readonly metrics: StepMetrics | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  step(step: BuildStep): void {
    this.end();
    this.current = { step, since: this.now() };
  }

  /** The build ended (whatever its outcome): the step under way ends with it. */
  end(): void {
    if (this.current)
      this.metrics?.stepEnded(this.current.step, (this.now() - this.current.since) / 1000);
    this.current = null;
  }
}
