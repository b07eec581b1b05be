import { z } from "zod";
import type { HookHeaders, ParsedHook, RefChange } from "../push-event.js";
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

const target = z.object({
  hash: objectId,
  message: text.optional(),
  author: z.object({ raw: text.optional() }).optional(),
});
const cloudRef = z.object({ type: z.string(), name: refName, target }).nullish();

/** Bitbucket Cloud `repo:push` (support.atlassian.com "Event payloads"). */
const CloudPush = z.object({
  push: z.object({ changes: z.array(z.object({ new: cloudRef, old: cloudRef })).max(1000) }),
  repository: z
    .object({ mainbranch: z.object({ name: z.string() }).nullish() })
    .passthrough()
    .optional(),
});

/** Bitbucket Server / Data Center `repo:refs_changed`. */
const ServerRefsChanged = z.object({
  changes: z
    .array(
      z.object({
        ref: z.object({ id: refName, type: z.string().optional() }),
        toHash: z.string(),
        type: z.string().optional(),
      }),
    )
    .max(1000),
});

/**
 * Bitbucket Cloud (`X-Event-Key: repo:push`, `X-Request-UUID`) and Bitbucket Server
 * (`repo:refs_changed`, `X-Request-Id`; `diagnostics:ping` from its "Test connection").
 * One push may move several refs; each is a change.
 */
export function parseBitbucket(headers: HookHeaders, body: Uint8Array): ParsedHook {
  const event = requireHeader(headers, "x-event-key");
  const server =
    event === "repo:refs_changed" ||
    event === "diagnostics:ping" ||
    (headers["x-request-uuid"] === undefined && headers["x-request-id"] !== undefined);
  const provider = server ? "bitbucket-server" : "bitbucket";
  const deliveryId = deliveryIdFrom(headers, server ? "x-request-id" : "x-request-uuid");
  const doc = jsonBody(headers, body);
  if (event === "diagnostics:ping") return { provider, deliveryId, event: { kind: "ping" } };
  if (event === "repo:push") {
    const push = shaped(CloudPush, doc, "Bitbucket repo:push");
    const changes: RefChange[] = push.push.changes.map((c) => {
      const ref = c.new ?? c.old;
      const kind = ref?.type === "tag" ? "tags" : "heads";
      return {
        ref: `refs/${kind}/${ref?.name ?? ""}`,
        commit: c.new?.target.hash,
        deleted: !c.new,
        message: c.new?.target.message,
        author: c.new?.target.author?.raw,
      };
    });
    return {
      provider,
      deliveryId,
      event: { kind: "push", changes, defaultBranch: push.repository?.mainbranch?.name },
    };
  }
  if (event === "repo:refs_changed") {
    const push = shaped(ServerRefsChanged, doc, "Bitbucket Server repo:refs_changed");
    const changes: RefChange[] = push.changes.map((c) => {
      const deleted = c.type === "DELETE" || isZeroId(c.toHash);
      return {
        ref: c.ref.id,
        commit: deleted ? undefined : shaped(objectId, c.toHash, "Bitbucket Server (toHash)"),
        deleted,
      };
    });
    return { provider, deliveryId, event: { kind: "push", changes } };
  }
  return { provider, deliveryId, event: { kind: "ignored", event: event.slice(0, 100) } };
}
