import { KilnError } from "@kiln/domain";

/** Why a webhook request was refused; one PascalCase word, stored as the delivery's `reason`. */
export const WebhookErrorReason = {
  /** The body is not what the provider sends (bad JSON, wrong shape, bad commit id). */
  MalformedPayload: "MalformedPayload",
  /** A header the provider always sends is missing or unusable (event type, delivery id). */
  MissingHeader: "MissingHeader",
  /** Not `application/json` (or the form encoding GitHub and Gitea offer). */
  UnsupportedMediaType: "UnsupportedMediaType",
  /** Over WEBHOOK_BODY_LIMIT_BYTES, or a generic hook's env larger than a build can carry. */
  PayloadTooLarge: "PayloadTooLarge",
  /** Wrong secret or signature, unknown BuildConfig, or no such trigger: all alike on purpose. */
  Unauthorized: "Unauthorized",
  /**
   * Stored only, for the BuildConfig's owner (the sender gets `Unauthorized`, alike on purpose):
   * the Secret a trigger's `secretReference` names does not exist in the BuildConfig's namespace.
   */
  SecretNotFound: "SecretNotFound",
  /**
   * Stored only, as `SecretNotFound`: the referenced Secret has no usable `WebHookSecretKey`
   * (no such key, an empty one, or not an Opaque Secret).
   */
  SecretKeyMissing: "SecretKeyMissing",
  /** The delivery id was first used for another BuildConfig. */
  Conflict: "Conflict",
  /** The delivery was stored but `build.requested` could not be published; a redelivery retries. */
  Unavailable: "Unavailable",
} as const;
export type WebhookErrorReason = (typeof WebhookErrorReason)[keyof typeof WebhookErrorReason];

const statusOf: Record<WebhookErrorReason, number> = {
  MalformedPayload: 400,
  MissingHeader: 400,
  UnsupportedMediaType: 415,
  PayloadTooLarge: 413,
  Unauthorized: 401,
  SecretNotFound: 401,
  SecretKeyMissing: 401,
  Conflict: 409,
  Unavailable: 503,
};

/** A webhook request that gets a 4xx/5xx answer `{error: reason, message}`. */
export class WebhookError extends KilnError {
  readonly retryable = false;
  readonly status: number;
  constructor(
    readonly reason: WebhookErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = statusOf[reason];
  }
}

/**
 * The only error a provider parser throws: the request cannot be a delivery of that provider.
 * Everything else escaping a parser is a bug (the fuzz test holds them to this).
 */
export class WebhookParseError extends WebhookError {
  constructor(
    reason: typeof WebhookErrorReason.MalformedPayload | typeof WebhookErrorReason.MissingHeader,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(reason, message, options);
  }
}
