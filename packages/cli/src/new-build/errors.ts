import { CliError } from "../errors.js";

/** No template, or several, fit the repository: the message names the candidates. */
export class DetectionError extends CliError {
  readonly reason = "NotDetected";
}

/** The repository could not be cloned or read: nothing was created. */
export class RepositoryError extends CliError {
  readonly reason = "CloneFailed";
}

/** The template's builder (or runtime) image names nothing that can be pulled: nothing was created. */
export class UnresolvedImageError extends CliError {
  readonly reason = "ImageUnresolved";
}

/** The BuildConfig exists and `--overwrite` was not given: it is left as it was. */
export class AlreadyExistsError extends CliError {
  readonly reason = "AlreadyExists";
}
