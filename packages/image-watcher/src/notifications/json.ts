import { NotificationParseError } from "../errors.js";

/** JSON.parse that fails only with NotificationParseError, and only for objects at the top. */
export function parseJsonObject(body: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new NotificationParseError("the body is not valid JSON", { cause: error });
  }
  if (!isRecord(value)) throw new NotificationParseError("the body is not a JSON object");
  return value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-empty string field, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The media type without parameters, lowercased (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}
