import { z } from "zod";
import { assertNever } from "../assert-never.js";
import { formatBytes, formatCount, maxDockerConfigJsonBytes } from "./limits.js";

/**
 * The two types of Kubernetes Secret Kiln uses. Values equal Kubernetes' `type` strings; a
 * Secret without `type` is `Opaque`, as in Kubernetes.
 */
export const SecretType = {
  /**
   * Registry credentials: `.dockerconfigjson` is a docker config JSON
   * (`{"auths": {"registry": {"auth": base64(user:password)}}}`), named by a BuildConfig's
   * `pullSecret` / `pushSecret`.
   */
  DockerConfigJson: "kubernetes.io/dockerconfigjson",
  /** Any keys and values; Kiln reads `WebHookSecretKey` of one a webhook trigger's `secretReference` names. */
  Opaque: "Opaque",
} as const;
export type SecretType = (typeof SecretType)[keyof typeof SecretType];

/**
 * The key of an Opaque Secret whose value is a webhook trigger's secret when the trigger names
 * the Secret by `secretReference` (OpenShift's name, spelt as OpenShift spells it).
 */
export const webhookSecretKey = "WebHookSecretKey";

const dockerConfigJsonKey = ".dockerconfigjson";

/** A `kubernetes.io/dockerconfigjson` Secret as Kiln stores it. */
export interface DockerConfigJsonSecretSpec {
  type: typeof SecretType.DockerConfigJson;
  /** The docker config JSON, decoded. Never logged, never returned by the API; sealed when stored. */
  dockerConfigJson: string;
  /** Stored beside the sealed JSON: the registries it has credentials for, which may be shown. */
  registries?: string[];
}

/** An `Opaque` Secret as Kiln stores it. */
export interface OpaqueSecretSpec {
  type: typeof SecretType.Opaque;
  /**
   * Key → value, decoded (`data` and `stringData` merged, `stringData` winning for a key in both,
   * as in Kubernetes). In the database every value is sealed and the keys stay in clear: they
   * are what may be shown of the Secret. Values are never logged, never returned by the API.
   */
  data: Record<string, string>;
}

/** A Secret's type and contents (a Secret has no `spec` on the wire; Kiln keeps these as one). */
export type SecretSpec = DockerConfigJsonSecretSpec | OpaqueSecretSpec;

/** Kubernetes' rule for a Secret's keys (`IsConfigMapKey`), so a Secret Kubernetes takes applies here too. */
const secretKeyPattern = /^[-._a-zA-Z0-9]+$/;
const secretKeyMessage = "must consist of alphanumeric characters, '-', '_' or '.'";

const knownTypes = Object.values(SecretType);

/** The parts of a Secret document that are not metadata, as zod reads them. */
export function secretDocumentSchema() {
  return z
    .object({
      type: z
        .string()
        .refine((t) => (knownTypes as string[]).includes(t), {
          error: (issue) =>
            `${String(issue.input)} Secrets are not used by Kiln (use ${SecretType.Opaque} or ${SecretType.DockerConfigJson})`,
        })
        .optional(),
      data: z.record(z.string(), z.string()).optional(),
      stringData: z.record(z.string(), z.string()).optional(),
    })
    .transform((doc, ctx): SecretSpec => {
      const type = (doc.type ?? SecretType.Opaque) as SecretType;
      switch (type) {
        case SecretType.DockerConfigJson:
          return dockerConfigJson(doc, ctx);
        case SecretType.Opaque:
          return opaque(doc, ctx);
        default:
          // The refinement above admits only the known types.
          return assertNever(type, "Secret type");
      }
    });
}

interface SecretDocument {
  data?: Record<string, string> | undefined;
  stringData?: Record<string, string> | undefined;
}
type Ctx = z.core.$RefinementCtx<unknown>;

function dockerConfigJson(doc: SecretDocument, ctx: Ctx): SecretSpec {
  const key = dockerConfigJsonKey;
  const fromString = doc.stringData?.[key];
  const fromData = doc.data?.[key];
  let json: string | undefined = fromString;
  if (json === undefined && fromData !== undefined) {
    const bytes = base64Bytes(fromData);
    if (bytes === null) {
      ctx.addIssue({ code: "custom", path: ["data", key], message: "must be base64" });
      return z.NEVER;
    }
    json = new TextDecoder().decode(bytes);
  }
  if (json === undefined) {
    ctx.addIssue({ code: "custom", path: ["data", key], message: "required" });
    return z.NEVER;
  }
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > maxDockerConfigJsonBytes) {
    // A build's credentials ride sealed in its dispatch, which the bus must still carry.
    ctx.addIssue({
      code: "custom",
      path: [fromString !== undefined ? "stringData" : "data", key],
      message: `${formatCount(bytes)} bytes is over the ${formatBytes(maxDockerConfigJsonBytes)} (${formatCount(maxDockerConfigJsonBytes)} bytes) registry credentials can have (they travel with each build)`,
    });
    return z.NEVER;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    ctx.addIssue({
      code: "custom",
      path: [fromString !== undefined ? "stringData" : "data", key],
      message: "must be a docker config JSON",
    });
    return z.NEVER;
  }
  if (!DockerConfig.safeParse(parsed).success) {
    ctx.addIssue({
      code: "custom",
      path: [fromString !== undefined ? "stringData" : "data", key],
      message: 'must have an "auths" object',
    });
    return z.NEVER;
  }
  return { type: SecretType.DockerConfigJson, dockerConfigJson: json };
}

const DockerConfig = z.object({ auths: z.record(z.string(), z.object({}).loose()) }).loose();

function opaque(doc: SecretDocument, ctx: Ctx): SecretSpec {
  const data: Record<string, string> = {};
  let ok = true;
  const fail = (path: string[], message: string) => {
    ctx.addIssue({ code: "custom", path, message });
    ok = false;
  };
  // Strict UTF-8: Kiln keeps values as text, so a binary value would come back changed.
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  for (const [key, value] of Object.entries(doc.data ?? {})) {
    if (!secretKeyPattern.test(key)) {
      fail(["data", key], secretKeyMessage);
      continue;
    }
    const bytes = base64Bytes(value);
    if (bytes === null) {
      fail(["data", key], "must be base64");
      continue;
    }
    try {
      data[key] = utf8.decode(bytes);
    } catch {
      fail(["data", key], "must be base64 of UTF-8 text (Kiln keeps Secret values as text)");
    }
  }
  for (const [key, value] of Object.entries(doc.stringData ?? {})) {
    if (!secretKeyPattern.test(key)) fail(["stringData", key], secretKeyMessage);
    else data[key] = value;
  }
  return ok ? { type: SecretType.Opaque, data } : z.NEVER;
}

/** Standard base64 (whitespace allowed, as `base64` wraps lines), or null when it is not base64. */
function base64Bytes(value: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/=\s]*$/.test(value)) return null;
  try {
    return Uint8Array.from(atob(value.replace(/\s/g, "")), (c) => c.charCodeAt(0));
  } catch {
    // atob refuses a length no padding explains.
    return null;
  }
}
