import { NotificationParseError } from "../errors.js";
import { isRecord, mediaType, parseJsonObject, str } from "./json.js";
import type { ParsedNotification, PushHint } from "./push-hint.js";

/** distribution ≤ 2.8: `{"events": [...]}`, batched. */
export const eventsV1MediaType = "application/vnd.docker.distribution.events.v1+json";
/** distribution 3: one event a request, the event itself as the body. */
export const eventsV2MediaType = "application/vnd.docker.distribution.events.v2+json";

/** Manifests and indexes: what a tag can point at. Blob events carry layer or config types. */
const manifestMediaTypes = new Set([
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
]);

/**
 * A CNCF distribution notification. Only manifest and index pushes that name a tag become
 * hints; pulls, blob events, deletes and pushes by digest only are counted as ignored.
 * `application/json` is accepted too (curl and some proxies), in either shape.
 */
export function parseDistributionNotification(
  contentType: string | undefined,
  body: string,
): ParsedNotification {
  const type = mediaType(contentType);
  if (type !== eventsV1MediaType && type !== eventsV2MediaType && type !== "application/json") {
    throw new NotificationParseError(
      `unsupported content type ${JSON.stringify(type)} (want ${eventsV1MediaType} or ${eventsV2MediaType})`,
    );
  }
  const root = parseJsonObject(body);
  let events: unknown[];
  if (Array.isArray(root.events)) events = root.events;
  else if (type !== eventsV1MediaType && "action" in root) events = [root];
  else throw new NotificationParseError('no events: want {"events": [...]} or one event');
  if (events.length > 1000)
    throw new NotificationParseError(`too many events in one request (${events.length})`);

  const hints: PushHint[] = [];
  let ignored = 0;
  events.forEach((event, i) => {
    if (!isRecord(event)) throw new NotificationParseError(`events[${i}] is not an object`);
    const target = event.target;
    if (!isRecord(target)) throw new NotificationParseError(`events[${i}].target is missing`);
    const repository = str(target.repository);
    if (str(event.action) === undefined || repository === undefined) {
      throw new NotificationParseError(`events[${i}] needs an action and target.repository`);
    }
    const tag = str(target.tag);
    const isManifest = manifestMediaTypes.has(str(target.mediaType)?.toLowerCase() ?? "");
    if (event.action !== "push" || !isManifest || tag === undefined) {
      ignored += 1;
      return;
    }
    const request = isRecord(event.request) ? event.request : {};
    hints.push({
      eventId: str(event.id),
      registry: str(request.host) ?? hostOf(str(target.url)),
      repository,
      tag,
      digest: str(target.digest),
    });
  });
  return { hints, ignored };
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}
