import { FailureReason } from "./failure-reason.js";

/** A problem with one field of a resource; `path` is dotted with `[i]` for array items. */
export interface FieldIssue {
  /** e.g. `spec.strategy.sourceStrategy.from.name` */
  readonly path: string;
  /** e.g. `required` */
  readonly message: string;
}

/** Base class of every error Kiln raises on purpose. `reason` is one PascalCase word. */
export abstract class KilnError extends Error {
  abstract readonly reason: string;
  /** Whether doing the same thing again may succeed (decides nak versus term on the bus). */
  abstract readonly retryable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A resource or request failed validation. Nothing was changed. */
export class ValidationError extends KilnError {
  readonly reason = "Invalid";
  readonly retryable = false;
  constructor(readonly issues: readonly FieldIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
  }
}

export class NotFoundError extends KilnError {
  readonly reason = "NotFound";
  readonly retryable = false;
  constructor(
    readonly kind: string,
    readonly namespace: string,
    readonly resourceName: string,
  ) {
    super(`${kind} ${namespace}/${resourceName} not found`);
  }
}

/**
 * The caller (a token) or a BuildConfig may not do what was asked (HTTP 403). Nothing was
 * changed. `details` names each refused item of a multi-document apply (`items[2]`).
 */
export class ForbiddenError extends KilnError {
  readonly reason = "Forbidden";
  readonly retryable = false;
  constructor(
    message: string,
    readonly details: readonly FieldIssue[] = [],
  ) {
    super(message);
  }
}

/** An update carried a stale `metadata.resourceVersion` (optimistic concurrency). */
export class ConflictError extends KilnError {
  readonly reason = "Conflict";
  readonly retryable = false;
}

/**
 * A build step failed for a reason that belongs on the build (`status.reason`).
 * Not retryable: running the same broken Dockerfile again gives the same answer.
 */
export class BuildFailure extends KilnError {
  readonly retryable = false;
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A workload's trigger annotation (`kiln.dev/triggers`, `image.openshift.io/triggers`) is not
 * valid: not JSON, or not a list of `{from: {kind: ImageStreamTag, name: IS:TAG}, fieldPath}`.
 * `issues` names each wrong field (`[0].from.name: …`). The workload is left as it is.
 */
export class TriggerAnnotationError extends KilnError {
  readonly reason = "InvalidTriggerAnnotation";
  readonly retryable = false;
  constructor(
    readonly annotation: string,
    readonly issues: readonly FieldIssue[],
  ) {
    super(
      `annotation ${annotation}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
    );
  }
}

/** A trigger's fieldPath names no container of the workload (or no pod template of its kind). */
export class FieldPathNotFoundError extends KilnError {
  readonly reason = "FieldPathNotFound";
  readonly retryable = false;
  constructor(
    readonly fieldPath: string,
    /** `Deployment/apps/web` */
    readonly workload: string,
    detail: string,
  ) {
    super(`fieldPath ${fieldPath} matches no container of ${workload}: ${detail}`);
  }
}
