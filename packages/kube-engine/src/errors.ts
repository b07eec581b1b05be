import { KilnError } from "@kiln/domain";

/**
 * The Kubernetes API could not be used (unreachable, 5xx, an unexpected answer): Kiln's
 * problem or the cluster's, not the build's. Retryable: the same build may well work later.
 */
export class KubeApiError extends KilnError {
  readonly reason = "KubeApiFailed";
  readonly retryable = true;
  constructor(
    message: string,
    /** The HTTP status, when the API server answered. */
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The HTTP status of an error from @kubernetes/client-node (its `ApiException.code`); null for anything else. */
  static statusOf(error: unknown): number | null {
    if (
      typeof error === "object" &&
      error !== null &&
      "code" in error &&
      typeof error.code === "number" &&
      error.code >= 100 &&
      error.code < 600
    )
      return error.code;
    return null;
  }

  /** The API server's own explanation (`Status.message`) of an `ApiException`; null when there is none. */
  static messageOf(error: unknown): string | null {
    if (typeof error !== "object" || error === null || !("body" in error)) return null;
    const body = error.body;
    try {
      const status = (typeof body === "string" ? JSON.parse(body) : body) as {
        message?: unknown;
      } | null;
      return typeof status?.message === "string" ? status.message : null;
    } catch {
      return null;
    }
  }
}
