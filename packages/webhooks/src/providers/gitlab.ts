import { z } from "zod";
import type { ParsedHook, HookHeaders } from "../push-event.js";
import {
  deliveryIdFrom,
  isZeroId,
  jsonBody,
  objectId,
  refName,
  requireHeader,
  shaped,
  text,
} from "./common.js";

/** GitLab's Push Hook and Tag Push Hook (docs.gitlab.com "Webhook events"). */
const GitLabPush = z.object({
  object_kind: z.enum(["push", "tag_push"]),
  ref: refName,
  after: z.string(),
  checkout_sha: objectId.nullish(),
  project: z.object({ default_branch: z.string().optional() }).optional(),
  commits: z
    .array(
      z.object({
        id: z.string(),
        message: text.optional(),
        author: z.object({ name: text.optional() }).optional(),
      }),
    )
    .optional(),
});

const pushEvents = new Set(["Push Hook", "Tag Push Hook", "System Hook"]);

/**
 * GitLab: `X-Gitlab-Event` and a delivery id. `Idempotency-Key` (GitLab 17.4+) stays the same
 * across GitLab's retries of one event, so it is preferred over `X-Gitlab-Event-UUID`.
 * The commit built is `checkout_sha` (the tip after the push; the commit of a tag).
 */
export function parseGitLab(headers: HookHeaders, body: Uint8Array): ParsedHook {
  const event = requireHeader(headers, "x-gitlab-event");
  const deliveryId = deliveryIdFrom(headers, "idempotency-key", "x-gitlab-event-uuid");
  const doc = jsonBody(headers, body);
  if (!pushEvents.has(event))
    return {
      provider: "gitlab",
      deliveryId,
      event: { kind: "ignored", event: event.slice(0, 100) },
    };
  // A System Hook carries every kind of event; only its pushes are ours.
  const kind = (doc as { object_kind?: unknown } | null)?.object_kind;
  if (event === "System Hook" && kind !== "push" && kind !== "tag_push") {
    return {
      provider: "gitlab",
      deliveryId,
      event: { kind: "ignored", event: `System Hook ${String(kind).slice(0, 50)}` },
    };
  }
  const push = shaped(GitLabPush, doc, "GitLab push");
  const commit = isZeroId(push.after) || !push.checkout_sha ? undefined : push.checkout_sha;
  const head = push.commits?.find((c) => c.id === commit);
  return {
    provider: "gitlab",
    deliveryId,
    event: {
      kind: "push",
      changes: [
        {
          ref: push.ref,
          commit,
          deleted: commit === undefined,
          message: head?.message,
          author: head?.author?.name,
        },
      ],
      defaultBranch: push.project?.default_branch,
    },
  };
}
