import { z } from "zod";
import { WebhookErrorReason, WebhookParseError } from "../errors.js";
import type { ParsedHook, HookHeaders } from "../push-event.js";
import {
  deliveryIdFrom,
  header,
  isZeroId,
  jsonBody,
  objectId,
  refName,
  shaped,
  text,
} from "./common.js";

/** Gitea, Forgejo and Gogs send GitHub's push shape (a subset of it). */
const GiteaPush = z.object({
  ref: refName,
  after: z.string(),
  commits: z
    .array(
      z.object({
        id: z.string(),
        message: text.optional(),
        author: z.object({ name: text.optional() }).optional(),
      }),
    )
    .nullish(),
  head_commit: z
    .object({
      id: objectId,
      message: text.optional(),
      author: z.object({ name: text.optional() }).optional(),
    })
    .nullish(),
  repository: z.object({ default_branch: z.string().optional() }).optional(),
});

/**
 * Gitea / Forgejo (`X-Gitea-Event`, `X-Forgejo-Event`, `X-Gitea-Delivery`) and Gogs
 * (`X-Gogs-Event`, `X-Gogs-Delivery`): which one is told by the headers.
 */
export function parseGitea(headers: HookHeaders, body: Uint8Array): ParsedHook {
  const gogs =
    header(headers, "x-gogs-event") !== undefined && header(headers, "x-gitea-event") === undefined;
  const provider = gogs ? "gogs" : "gitea";
  const event =
    header(headers, "x-gitea-event") ??
    header(headers, "x-forgejo-event") ??
    header(headers, "x-gogs-event");
  const deliveryId = gogs
    ? deliveryIdFrom(headers, "x-gogs-delivery")
    : deliveryIdFrom(headers, "x-gitea-delivery", "x-forgejo-delivery");
  if (event === undefined)
    throw new WebhookParseError(
      WebhookErrorReason.MissingHeader,
      "the x-gitea-event (or x-forgejo-event, x-gogs-event) header is required",
    );
  const doc = jsonBody(headers, body);
  if (event !== "push")
    return { provider, deliveryId, event: { kind: "ignored", event: event.slice(0, 100) } };
  const push = shaped(GiteaPush, doc, "Gitea push");
  const commit = isZeroId(push.after)
    ? undefined
    : shaped(objectId, push.after, "Gitea push (after)");
  const head = push.head_commit ?? push.commits?.find((c) => c.id === commit);
  return {
    provider,
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
      defaultBranch: push.repository?.default_branch,
    },
  };
}
