import { KilnError } from "@kiln/domain";

/**
 * This host cannot run isolated builds: `piece` names what is missing (user namespaces,
 * subordinate ids, the OCI runtime, overlay, slirp4netns, a directory), `fix` the command that
 * provides it. The runner refuses to start rather than fall back to a weaker isolation.
 */
export class BuildHostUnusableError extends KilnError {
  readonly reason = "BuildHostUnusable";
  readonly retryable = false;
  constructor(
    readonly piece: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`cannot run isolated builds: ${piece}: ${problem}; fix: ${fix}`);
  }
}
