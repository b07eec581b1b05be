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

const commit = z.object({
  id: objectId,
  message: text.optional(),
  author: z.object({ name: text.optional() }).optional(),
});

/** The fields of a GitHub `push` event Kiln uses (docs.github.com "Webhook events and payloads"). */
const GitHubPush = z.object({
  ref: refName,
  before: z.string().optional(),
  after: z.string(),
  deleted: z.boolean().optional(),
  head_commit: commit.nullish(),
  repository: z.object({ default_branch: z.string().optional() }).optional(),
});

/**
 * GitHub: `X-GitHub-Event` (`push`, `ping`, anything else ignored) and `X-GitHub-Delivery`.
 * The pushed commit is `head_commit.id` (for an annotated tag `after` is the tag object).
 */
export function parseGitHub(headers: HookHeaders, body: Uint8Array): ParsedHook {
  const event = requireHeader(headers, "x-github-event");
  const deliveryId = deliveryIdFrom(headers, "x-github-delivery");
  const doc = jsonBody(headers, body);
  if (event === "ping") return { provider: "github", deliveryId, event: { kind: "ping" } };
  if (event !== "push")
    return {
      provider: "github",
      deliveryId,
      event: { kind: "ignored", event: event.slice(0, 100) },
    };
  const push = shaped(GitHubPush, doc, "GitHub push");
  const deleted = push.deleted === true || isZeroId(push.after);
  const after = deleted
    ? undefined
    : (push.head_commit?.id ?? shaped(objectId, push.after, "GitHub push (after)"));
  return {
    provider: "github",
    deliveryId,
    event: {
      kind: "push",
      changes: [
        {
          ref: push.ref,
          commit: after,
          deleted,
          message: push.head_commit?.message,
          author: push.head_commit?.author?.name,
        },
      ],
      defaultBranch: push.repository?.default_branch,
    },
  };
}
