import { assertNever } from "@kiln/domain";
import { NotificationParseError } from "../errors.js";
import { parseDistributionNotification } from "./distribution.js";
import { parseDockerHubNotification } from "./docker-hub.js";
import { parseHarborNotification } from "./harbor.js";
import type { NotificationSource, ParsedNotification } from "./push-hint.js";
import { parseQuayNotification } from "./quay.js";

/**
 * Parses a notification body from one source. Pure; throws only NotificationParseError, whatever
 * the bytes (the fuzz test holds it to that).
 */
export function parseNotification(
  source: NotificationSource,
  contentType: string | undefined,
  body: string,
): ParsedNotification {
  try {
    switch (source) {
      case "distribution":
        return parseDistributionNotification(contentType, body);
      case "harbor":
        return parseHarborNotification(body);
      case "dockerhub":
        return parseDockerHubNotification(body);
      case "quay":
        return parseQuayNotification(body);
      default:
        return assertNever(source, "notification source");
    }
  } catch (error) {
    if (error instanceof NotificationParseError) throw error;
    // A shape no check above foresaw must still be a 400, never a crash.
    throw new NotificationParseError("the notification could not be read", { cause: error });
  }
}
