import { KilnError } from "@kiln/domain";

/** What went wrong talking to a registry, one word each. */
export const RegistryFailure = {
  /** 404: no such manifest or blob. */
  NotFound: "NotFound",
  /** 401/403 even after the token dance: the credentials (or their absence) are refused. */
  Unauthorized: "Unauthorized",
  /** Unreachable, timed out, 5xx, or an answer that is not what the API promises. */
  Unavailable: "Unavailable",
} as const;
export type RegistryFailure = (typeof RegistryFailure)[keyof typeof RegistryFailure];

/** A registry request that did not give what was asked for. */
export class RegistryError extends KilnError {
  readonly retryable: boolean;
  constructor(
    readonly reason: RegistryFailure,
    /** The repository asked (`host/repository`). */
    readonly repository: string,
    /** What happened, without the repository: "the registry answered 503". */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${repository}: ${detail}`, options);
    this.retryable = reason === RegistryFailure.Unavailable;
  }
}
