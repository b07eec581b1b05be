import {
  ConflictError,
  ForbiddenError,
  KilnError,
  NotFoundError,
  ValidationError,
  type FieldIssue,
} from "@kiln/domain";
import { MessageTooLargeError } from "@kiln/bus";
import { KubernetesReviewError } from "./kubernetes-delegation.js";

/** The JSON body of every error answer (docs/api.md). */
export interface ErrorBody {
  error: string;
  message: string;
  details?: FieldIssue[];
}

export class UnauthorizedError extends KilnError {
  readonly reason = "Unauthorized";
  readonly retryable = false;
}

/** An upload went over its limit; the message names the limit. */
export class PayloadTooLargeError extends KilnError {
  readonly reason = "PayloadTooLarge";
  readonly retryable = false;
}

/** A token that does not exist, or that the caller may not see (tokens have no namespace). */
export class TokenNotFoundError extends KilnError {
  readonly reason = "NotFound";
  readonly retryable = false;
  constructor(readonly tokenName: string) {
    super(`token "${tokenName}" not found`);
  }
}

export class BuildFinishedError extends KilnError {
  readonly reason = "Conflict";
  readonly retryable = false;
}

/** Maps an error to its HTTP status and body; unknown errors are 500 without internals. */
export function toHttpError(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof ValidationError)
    return {
      status: 400,
      body: { error: error.reason, message: "the request is invalid", details: [...error.issues] },
    };
  if (error instanceof NotFoundError || error instanceof TokenNotFoundError)
    return { status: 404, body: { error: error.reason, message: error.message } };
  if (error instanceof ForbiddenError)
    return {
      status: 403,
      body: {
        error: error.reason,
        message: error.message,
        ...(error.details.length ? { details: [...error.details] } : {}),
      },
    };
  if (error instanceof ConflictError || error instanceof BuildFinishedError)
    return { status: 409, body: { error: "Conflict", message: error.message } };
  if (error instanceof UnauthorizedError)
    return { status: 401, body: { error: error.reason, message: error.message } };
  if (error instanceof KubernetesReviewError)
    return { status: 503, body: { error: error.reason, message: error.message } };
  if (error instanceof PayloadTooLargeError)
    return { status: 413, body: { error: error.reason, message: error.message } };
  // What the size checks let through and the bus still could not carry: not the client's retry to make.
  if (error instanceof MessageTooLargeError)
    return {
      status: 413,
      body: {
        error: "PayloadTooLarge",
        message: "the build request is larger than the bus carries",
      },
    };
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 413)
    return { status, body: { error: "PayloadTooLarge", message: "the request body is too large" } };
  if (status && status >= 400 && status < 500) {
    return {
      status,
      body: { error: "Invalid", message: error instanceof Error ? error.message : "bad request" },
    };
  }
  return {
    status: 500,
    body: { error: "InternalError", message: "internal error; see the api service log" },
  };
}
