import { z } from "zod";
import { envName } from "@kiln/domain";
import type { HookHeaders, ParsedHook } from "../push-event.js";
import { deliveryIdFrom, header, jsonBody, refName, shaped, text } from "./common.js";

const person = z.object({ name: text.optional(), email: text.optional() });

/** OpenShift's generic webhook payload; every field is optional, and so is the body. */
const GenericPayload = z.object({
  type: z.string().optional(),
  git: z
    .object({
      uri: z.string().max(2048).optional(),
      ref: refName.optional(),
      commit: z
        .string()
        .regex(/^[0-9a-f]{4,64}$/, "a hexadecimal commit id")
        .optional(),
      author: person.optional(),
      committer: person.optional(),
      message: text.optional(),
    })
    .optional(),
  env: z
    .array(z.object({ name: envName, value: z.string().max(65_536) }))
    .max(256)
    .optional(),
});

/**
 * OpenShift's generic webhook (`{git: {uri, ref, commit, author, committer, message}, env}`).
 * An empty body builds the BuildConfig's ref as it is. Dedupe needs a delivery id from the
 * sender (`X-Request-Id` or `X-Kiln-Delivery`); without one every request is a new delivery.
 * A short ref (`main`) means the branch, as in OpenShift.
 */
export function parseGeneric(headers: HookHeaders, body: Uint8Array): ParsedHook {
  const deliveryId =
    (header(headers, "x-kiln-delivery") ?? header(headers, "x-request-id")) !== undefined
      ? deliveryIdFrom(headers, "x-kiln-delivery", "x-request-id")
      : null;
  const doc = body.length === 0 ? {} : jsonBody(headers, body);
  const payload = shaped(GenericPayload, doc, "generic webhook");
  const git = payload.git;
  const ref =
    git?.ref === undefined ? null : git.ref.startsWith("refs/") ? git.ref : `refs/heads/${git.ref}`;
  return {
    provider: "generic",
    deliveryId,
    event: {
      kind: "push",
      // No ref: the BuildConfig's own ref, at its tip unless a commit is named.
      changes: [
        {
          ref: ref ?? "",
          commit: git?.commit,
          deleted: false,
          message: git?.message,
          author: git?.author?.name,
        },
      ],
      env: payload.env,
    },
  };
}
