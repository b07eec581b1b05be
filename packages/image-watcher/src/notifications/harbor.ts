import { NotificationParseError } from "../errors.js";
import { isDigest } from "@kiln/registry";
import { isRecord, parseJsonObject, str } from "./json.js";
import type { ParsedNotification, PushHint } from "./push-hint.js";

/** Harbor's event type in its Default format, and in its CloudEvents format. */
const pushTypes = new Set(["PUSH_ARTIFACT", "harbor.artifact.pushed"]);

/**
 * A Harbor webhook, Default format (`{type, occur_at, operator, event_data: {resources,
 * repository}}`) or CloudEvents format (`{specversion, id, type: "harbor.artifact.pushed",
 * data: {resources, repository}}`). Only artifact pushes matter; for an untagged artifact
 * Harbor puts the digest in `tag`, which names no tag, so it is ignored.
 */
export function parseHarborNotification(body: string): ParsedNotification {
  const root = parseJsonObject(body);
  const type = str(root.type);
  if (type === undefined) throw new NotificationParseError("a Harbor event needs a type");
  const cloudEvent = str(root.specversion) !== undefined;
  const data = cloudEvent ? root.data : root.event_data;
  if (!isRecord(data))
    throw new NotificationParseError(
      cloudEvent ? "a Harbor CloudEvent needs data" : "a Harbor event needs event_data",
    );
  if (!pushTypes.has(type)) return { hints: [], ignored: 1 };
  const repository = isRecord(data.repository) ? str(data.repository.repo_full_name) : undefined;
  if (repository === undefined)
    throw new NotificationParseError("a Harbor push needs repository.repo_full_name");
  if (!Array.isArray(data.resources))
    throw new NotificationParseError("a Harbor push needs resources");
  const baseId = cloudEvent ? str(root.id) : `${String(root.occur_at)}`;
  const hints: PushHint[] = [];
  let ignored = 0;
  data.resources.forEach((resource, i) => {
    if (!isRecord(resource)) throw new NotificationParseError(`resources[${i}] is not an object`);
    const tag = str(resource.tag);
    const digest = str(resource.digest);
    if (tag === undefined || isDigest(tag)) {
      ignored += 1;
      return;
    }
    hints.push({
      eventId: baseId === undefined ? undefined : `${baseId}/${repository}:${tag}@${digest ?? ""}`,
      registry: registryOf(str(resource.resource_url), repository),
      repository,
      tag,
      digest,
    });
  });
  return { hints, ignored };
}

/** `harbor.example.com/library/nginx:latest` with repository `library/nginx` → `harbor.example.com`. */
function registryOf(resourceUrl: string | undefined, repository: string): string | undefined {
  if (resourceUrl === undefined) return undefined;
  const at = resourceUrl.indexOf(`/${repository}`);
  return at > 0 ? resourceUrl.slice(0, at) : undefined;
}
