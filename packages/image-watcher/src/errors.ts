import { KilnError } from "@kiln/domain";

/**
 * A notification body that is not what its source sends (bad JSON, wrong shape, unknown media
 * type). The receiver answers 400; the only error a parser ever throws.
 */
export class NotificationParseError extends KilnError {
  readonly reason = "InvalidNotification";
  readonly retryable = false;
}

/** The registry could not tell a tag's digest (unreachable, 5xx, auth refused). Worth retrying. */
export class ManifestUnavailableError extends KilnError {
  readonly reason = "ManifestUnavailable";
  readonly retryable = true;
  constructor(
    readonly image: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The tag does not exist in the registry (404): nothing to record. */
export class ManifestNotFoundError extends KilnError {
  readonly reason = "ManifestNotFound";
  readonly retryable = false;
  constructor(readonly image: string) {
    super(`${image}: no such manifest in the registry`);
  }
}
