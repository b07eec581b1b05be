/** A message that does not match its schema: redelivering it cannot help, so it is terminated. */
export class DecodeError extends Error {
  readonly reason = "DecodeFailed";
  readonly retryable = false;
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message);
    this.name = "DecodeError";
  }
}

/** Wrap an error in this to say "try again later" explicitly (a database blip, a busy peer). */
export class RetryableError extends Error {
  readonly reason = "Retryable";
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetryableError";
  }
}

/** Wrap an error in this to say "never redeliver": the message is terminated and logged. */
export class NonRetryableError extends Error {
  readonly reason = "NonRetryable";
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/**
 * A message larger than the server's `max_payload` (headers included): it can never be
 * published, so a retry cannot help. The api refuses such input before it gets this far; this
 * is what tells a publisher that something still slipped through.
 */
export class MessageTooLargeError extends Error {
  readonly reason = "MessageTooLarge";
  readonly retryable = false;
  constructor(
    readonly subject: string,
    /** The encoded payload, without the headers. */
    readonly bytes: number,
    /** The server's `max_payload`, when the connection knows it. */
    readonly maxBytes: number | undefined,
  ) {
    super(
      `a ${bytes} byte message to ${subject} is over the ${maxBytes ?? "server's"} bytes NATS carries (max_payload)`,
    );
    this.name = "MessageTooLargeError";
  }
}

/** Whether a handler error should end the message (term) rather than nak it for a retry. */
export function isNonRetryable(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && "retryable" in error && error.retryable === false
  );
}

/** A stream the service needs was not there in time: nobody set the bus up. */
export class BusNotReadyError extends Error {
  readonly reason = "BusNotReady";
  constructor(
    readonly stream: string,
    timeoutMs: number,
  ) {
    super(
      `stream ${stream} does not exist after ${timeoutMs} ms: the bus is not set up (kiln up does it; on Kubernetes the scheduler's setup-bus init container)`,
    );
    this.name = "BusNotReadyError";
  }
}

/** NATS refused the connection's credentials: one line that says whose, never the seed. */
export class BusLoginRefusedError extends Error {
  readonly reason = "BusLoginRefused";
  constructor(servers: string, role: string | undefined, withSeed: boolean) {
    super(
      withSeed
        ? `NATS at ${servers} refused the ${role ?? "given"} identity's NKey (Authorization Violation): NATS_NKEY_SEED is not one the server knows`
        : `NATS at ${servers} refused an anonymous connection (Authorization Violation): set NATS_NKEY_SEED`,
    );
    this.name = "BusLoginRefusedError";
  }
}

/**
 * NATS cannot be reached now (the connection is lost and nats.js is reconnecting): a publish
 * fails at once with this instead of waiting for a timeout. Retryable: the same publish works
 * once the connection is back (its msg id makes a retry safe). An HTTP edge answers it 503.
 */
export class BusUnavailableError extends Error {
  readonly reason = "BusUnavailable";
  readonly retryable = true;
  constructor(readonly problem: string) {
    super(`NATS is unavailable: ${problem}`);
    this.name = "BusUnavailableError";
  }
}

/** An object read back whose chunks do not add up to its stored size and digest. */
export class ObjectCorruptError extends Error {
  readonly reason = "ObjectCorrupt";
  readonly retryable = false;
  constructor(
    readonly object: string,
    readonly got: { size: number; digest: string },
    readonly stored: { size: number; digest: string },
  ) {
    super(
      `object ${object} read back as ${got.size} bytes (${got.digest}), stored as ${stored.size} bytes (${stored.digest})`,
    );
    this.name = "ObjectCorruptError";
  }
}
