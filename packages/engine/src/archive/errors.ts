import { KilnError } from "@kiln/domain";

/**
 * An archive was refused before anything it names could land outside the destination:
 * an absolute path, a `..` component, a link leading outside, a device file or fifo, too many
 * entries or too many bytes. `entry` names the offending entry as written in the archive.
 */
export class UnsafeArchiveError extends KilnError {
  readonly reason = "UnsafeArchive";
  readonly retryable = false;
  constructor(
    message: string,
    readonly entry: string | null,
  ) {
    super(message);
  }
}

/** The input is not a tar (or tar.gz) archive, or it is truncated or corrupt. */
export class InvalidArchiveError extends KilnError {
  readonly reason = "InvalidArchive";
  readonly retryable = false;
}
