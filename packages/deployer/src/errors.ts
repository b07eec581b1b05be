import { KilnError } from "@kiln/domain";

/**
 * A Kubernetes API request failed. `code` is the HTTP status (0: no answer at all). Conflicts
 * (409) are retried by re-reading; a missing object (404) and a refusal (other 4xx) end the
 * deploy; anything else (5xx, no answer) is worth retrying later.
 */
export class KubeRequestError extends KilnError {
  readonly reason: "Conflict" | "NotFound" | "Rejected" | "Unavailable";
  readonly retryable: boolean;
  constructor(
    readonly code: number,
    /** What was asked: `PATCH Deployment apps/web`. */
    readonly request: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${request}: ${message}`, options);
    this.reason =
      code === 409
        ? "Conflict"
        : code === 404
          ? "NotFound"
          : code >= 400 && code < 500 && code !== 408 && code !== 429
            ? "Rejected"
            : "Unavailable";
    this.retryable = this.reason === "Conflict" || this.reason === "Unavailable";
  }

  /** `error` as a KubeRequestError, or null: narrows what a catch block got in one call. */
  static parse(error: unknown): KubeRequestError | null {
    return error instanceof KubeRequestError ? error : null;
  }
}

/** The deployer was asked to patch a workload outside its watched namespaces: a bug, refused. */
export class NamespaceNotWatchedError extends KilnError {
  readonly reason = "NamespaceNotWatched";
  readonly retryable = false;
  constructor(readonly namespace: string) {
    super(`namespace ${namespace} is not watched by this deployer (DEPLOYER_NAMESPACES)`);
  }
}

/** The Kubernetes watches have not listed their workloads yet, so followers cannot be known. */
export class NotSyncedError extends KilnError {
  readonly reason = "NotSynced";
  readonly retryable = true;
}

/** Too many 409s in a row on one workload: someone else keeps changing it. Tried again later. */
export class ConflictRetriesExhaustedError extends KilnError {
  readonly reason = "Conflict";
  readonly retryable = true;
}
