/**
 * `Status` objects, the body the real API server sends with every error (and with some
 * deletes), with its reasons and messages.
 */
import { qualifiedName, type ResourceDef } from "./resources.js";

export type StatusReason =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Expired"
  | "Invalid"
  | "MethodNotAllowed"
  | "UnsupportedMediaType"
  | "TooManyRequests"
  | "InternalError"
  | "ServiceUnavailable"
  | "Timeout"
  | "";

export type StatusDetails = {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  retryAfterSeconds?: number;
};

export type KubeStatus = {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
};

/** An error the stand-in answers with (and that its test-side methods throw). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = "KubeApiError";
  }

  toStatus(): KubeStatus {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

function details(def: ResourceDef, name: string): StatusDetails {
  return { name, group: def.group, kind: def.plural };
}

export const statusErrors = {
  notFound: (def: ResourceDef, name: string) =>
    new KubeApiError(
      404,
      "NotFound",
      `${qualifiedName(def)} "${name}" not found`,
      details(def, name),
    ),
  alreadyExists: (def: ResourceDef, name: string) =>
    new KubeApiError(
      409,
      "AlreadyExists",
      `${qualifiedName(def)} "${name}" already exists`,
      details(def, name),
    ),
  conflict: (
    def: ResourceDef,
    name: string,
    why = "the object has been modified; please apply your changes to the latest version and try again",
  ) =>
    new KubeApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualifiedName(def)} "${name}": ${why}`,
      details(def, name),
    ),
  invalid: (message: string) => new KubeApiError(422, "Invalid", message),
  badRequest: (message: string) => new KubeApiError(400, "BadRequest", message),
  expired: (requested: number, oldest: number) =>
    new KubeApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`),
  routeNotFound: () =>
    new KubeApiError(404, "NotFound", "the server could not find the requested resource", {}),
  methodNotAllowed: (method: string) =>
    new KubeApiError(
      405,
      "MethodNotAllowed",
      `the server does not allow this method on the requested resource (${method})`,
      {},
    ),
  unsupportedMediaType: (contentType: string) =>
    new KubeApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType})`,
    ),
  unauthorized: () => new KubeApiError(401, "Unauthorized", "Unauthorized"),
  forbidden: (message: string) => new KubeApiError(403, "Forbidden", message),
};

const reasonByCode: Record<number, StatusReason> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Gone",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The reason the real server gives a bare status code. */
export function reasonForCode(code: number): StatusReason {
  return reasonByCode[code] ?? "";
}

export function successStatus(def: ResourceDef, name: string, uid: string | undefined): KubeStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { ...details(def, name), ...(uid ? { uid } : {}) },
    code: 200,
  };
}
