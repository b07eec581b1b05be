import { KilnError } from "@kiln/domain";

/**
 * The fast path cannot make this build as buildah would (an archive ADD, a COPY through a
 * symlink of the base, a base it cannot read): the build goes to buildah, and the log says why.
 */
export class FastPathRefused extends KilnError {
  readonly reason = "FastPathRefused";
  readonly retryable = false;
}
