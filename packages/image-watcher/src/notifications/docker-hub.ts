import { NotificationParseError } from "../errors.js";
import { dockerHubRegistry } from "@kiln/registry";
import { isRecord, parseJsonObject, str } from "./json.js";
import type { ParsedNotification } from "./push-hint.js";

/**
 * A Docker Hub repository webhook: `{callback_url, push_data: {pushed_at, pusher, tag},
 * repository: {repo_name, namespace, name, …}}`. Docker Hub sends one per pushed tag and no
 * delivery id; the push time stands in for one.
 */
export function parseDockerHubNotification(body: string): ParsedNotification {
  const root = parseJsonObject(body);
  const push = root.push_data;
  const repo = root.repository;
  if (!isRecord(push) || !isRecord(repo))
    throw new NotificationParseError("a Docker Hub webhook needs push_data and repository");
  const repository =
    str(repo.repo_name) ??
    (str(repo.namespace) && str(repo.name)
      ? `${String(repo.namespace)}/${String(repo.name)}`
      : undefined);
  if (repository === undefined)
    throw new NotificationParseError("a Docker Hub webhook needs repository.repo_name");
  const tag = str(push.tag);
  if (tag === undefined) return { hints: [], ignored: 1 };
  const pushedAt =
    typeof push.pushed_at === "number" || typeof push.pushed_at === "string"
      ? String(push.pushed_at)
      : undefined;
  return {
    hints: [
      {
        eventId: pushedAt === undefined ? undefined : `${repository}:${tag}@${pushedAt}`,
        registry: dockerHubRegistry,
        repository: repository.includes("/") ? repository : `library/${repository}`,
        tag,
      },
    ],
    ignored: 0,
  };
}
