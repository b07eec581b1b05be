import { z } from "zod";

/**
 * Registry credentials, as Kubernetes keeps them: a Secret of type
 * `kubernetes.io/dockerconfigjson` whose `.dockerconfigjson` is a docker config JSON
 * (`{"auths": {"registry": {"auth": base64(user:password)}}}`), in `data` (base64) or
 * `stringData` (plain). Kiln stores the decoded JSON and never shows it again.
 */
export const dockerConfigJsonType = "kubernetes.io/dockerconfigjson";
const key = ".dockerconfigjson";

export interface SecretSpec {
  type: typeof dockerConfigJsonType;
  /** The docker config JSON, decoded. Never logged, never returned by the API; sealed when stored. */
  dockerConfigJson: string;
  /** Stored beside the sealed JSON: the registries it has credentials for, which may be shown. */
  registries?: string[];
}

const DockerConfig = z.object({ auths: z.record(z.string(), z.object({}).loose()) }).loose();

/** The parts of a Secret document that are not metadata, as zod reads them. */
export function secretDocumentSchema() {
  return z
    .object({
      type: z.literal(dockerConfigJsonType, {
        error: `only ${dockerConfigJsonType} Secrets are used by Kiln`,
      }),
      data: z.record(z.string(), z.string()).optional(),
      stringData: z.record(z.string(), z.string()).optional(),
    })
    .transform((doc, ctx): SecretSpec => {
      const fromString = doc.stringData?.[key];
      const fromData = doc.data?.[key];
      let json: string | undefined = fromString;
      if (json === undefined && fromData !== undefined) {
        if (!/^[A-Za-z0-9+/=\s]*$/.test(fromData)) {
          ctx.addIssue({ code: "custom", path: ["data", key], message: "must be base64" });
          return z.NEVER;
        }
        const bytes = Uint8Array.from(atob(fromData.replace(/\s/g, "")), (c) => c.charCodeAt(0));
        json = new TextDecoder().decode(bytes);
      }
      if (json === undefined) {
        ctx.addIssue({ code: "custom", path: ["data", key], message: "required" });
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
      return { type: dockerConfigJsonType, dockerConfigJson: json };
    });
}
