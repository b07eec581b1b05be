import { z } from "zod";
import { WebhookErrorReason, WebhookParseError } from "../errors.js";
import type { HookHeaders } from "../push-event.js";

/** The 40 (SHA-1) or 64 (SHA-256 repositories) hex digits of a git object id. */
export const objectId = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "a full git object id");
/** A git ref as providers send it; bounded so nothing huge reaches logs or the database. */
export const refName = z.string().min(1).max(1024);
/** Free text (commit messages, names), cut to a size worth storing. */
export const text = z.string().transform((s) => s.slice(0, 2000));

const zeroId = /^0+$/;
/** Providers send all zeros as the new commit of a deleted ref. */
export function isZeroId(id: string | null | undefined): boolean {
  return id === null || id === undefined || zeroId.test(id);
}

export function header(headers: HookHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === "" ? undefined : first;
}

export function requireHeader(headers: HookHeaders, name: string): string {
  const value = header(headers, name);
  if (value === undefined)
    throw new WebhookParseError(WebhookErrorReason.MissingHeader, `the ${name} header is required`);
  return value;
}

/**
 * A delivery id usable as a NATS subject token and a request id: letters, digits, `-` and `_`
 * (UUIDs, GitHub's GUIDs). Braces around a UUID (some Bitbucket versions) are dropped.
 */
export function deliveryIdFrom(headers: HookHeaders, ...names: string[]): string {
  for (const name of names) {
    const raw = header(headers, name);
    if (raw === undefined) continue;
    const id = raw.trim().replace(/^\{(.*)\}$/, "$1");
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
      throw new WebhookParseError(
        WebhookErrorReason.MissingHeader,
        `the ${name} header is not a usable delivery id (letters, digits, - and _, at most 128)`,
      );
    }
    return id;
  }
  throw new WebhookParseError(
    WebhookErrorReason.MissingHeader,
    `the ${names.join(" or ")} header is required`,
  );
}

/** Stateless between calls (fatal, never streamed): one for every body. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The JSON document of a body: `application/json`, or the `payload` field of a form post (GitHub's
 * and Gitea's "application/x-www-form-urlencoded" content type). Signatures cover the raw bytes,
 * so this runs only after verification.
 */
export function jsonBody(headers: HookHeaders, body: Uint8Array): unknown {
  let textBody: string;
  try {
    textBody = utf8.decode(body);
  } catch (error) {
    throw new WebhookParseError(WebhookErrorReason.MalformedPayload, "the body is not UTF-8", {
      cause: error,
    });
  }
  if (
    (header(headers, "content-type") ?? "")
      .toLowerCase()
      .startsWith("application/x-www-form-urlencoded")
  ) {
    const payload = new URLSearchParams(textBody).get("payload");
    if (payload === null)
      throw new WebhookParseError(
        WebhookErrorReason.MalformedPayload,
        "a form-encoded body needs a payload field",
      );
    textBody = payload;
  }
  try {
    return JSON.parse(textBody) as unknown;
  } catch (error) {
    throw new WebhookParseError(WebhookErrorReason.MalformedPayload, "the body is not valid JSON", {
      cause: error,
    });
  }
}

/** Checks a document against a provider schema; names the first wrong field. */
export function shaped<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join(".") || "(body)";
  throw new WebhookParseError(
    WebhookErrorReason.MalformedPayload,
    `not a ${what} payload: ${path}: ${issue?.message ?? "invalid"}`,
  );
}
