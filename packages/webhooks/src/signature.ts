import { assertNever } from "@kiln/domain";
import { header } from "./providers/common.js";
import type { HookType } from "./providers/index.js";
import type { HookHeaders } from "./push-event.js";
import { constantTimeEqual, signatureMatches } from "./verify.js";

/**
 * Whether a request to Kiln's `/hooks/<ns>/<bc>/<type>` URL proves it knows `secret`, the way
 * the provider proves it: an HMAC-SHA256 of the raw body (GitHub, Gitea/Forgejo/Gogs,
 * Bitbucket) or the secret itself in a header (GitLab's X-Gitlab-Token). A generic client may
 * do either: `X-Hub-Signature-256: sha256=<hmac>` or `Authorization: Bearer <secret>`.
 */
export function requestProvesSecret(
  type: HookType,
  headers: HookHeaders,
  body: Uint8Array,
  secret: string,
): boolean {
  switch (type) {
    case "github":
      return signatureMatches(header(headers, "x-hub-signature-256"), secret, body, "prefixed");
    case "gitlab":
      return constantTimeEqual(header(headers, "x-gitlab-token") ?? "", secret);
    case "gitea":
      return signatureMatches(
        header(headers, "x-gitea-signature") ??
          header(headers, "x-forgejo-signature") ??
          header(headers, "x-gogs-signature"),
        secret,
        body,
        "bare",
      );
    case "bitbucket":
      return signatureMatches(header(headers, "x-hub-signature"), secret, body, "prefixed");
    case "generic": {
      const signature = header(headers, "x-hub-signature-256");
      if (signature !== undefined) return signatureMatches(signature, secret, body, "prefixed");
      const auth = header(headers, "authorization") ?? "";
      return constantTimeEqual(auth.startsWith("Bearer ") ? auth.slice(7) : "", secret);
    }
    default:
      return assertNever(type);
  }
}
