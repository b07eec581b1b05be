import { NotificationParseError } from "../errors.js";
import { isRecord, parseJsonObject, str } from "./json.js";
import type { ParsedNotification, PushHint } from "./push-hint.js";

/**
 * A Quay "Repository Push" notification: `{repository: "ns/name", docker_url:
 * "quay.io/ns/name", updated_tags: ["latest"]}` (older Quay sends `updated_tags` as an object
 * of tag → image id). Quay sends no event id and no digest.
 */
export function parseQuayNotification(body: string): ParsedNotification {
  const root = parseJsonObject(body);
  const repository = str(root.repository);
  if (repository === undefined)
    throw new NotificationParseError("a Quay notification needs repository");
  const tags = root.updated_tags;
  let names: unknown[];
  if (Array.isArray(tags)) names = tags;
  else if (isRecord(tags)) names = Object.keys(tags);
  else if (tags === undefined) return { hints: [], ignored: 1 };
  else throw new NotificationParseError("updated_tags must be a list of tags");
  const dockerUrl = str(root.docker_url);
  const registry =
    dockerUrl !== undefined && dockerUrl.endsWith(`/${repository}`)
      ? dockerUrl.slice(0, -repository.length - 1)
      : "quay.io";
  const hints: PushHint[] = [];
  let ignored = 0;
  for (const name of names) {
    const tag = str(name);
    if (tag === undefined) ignored += 1;
    else hints.push({ registry, repository, tag });
  }
  return { hints, ignored };
}
