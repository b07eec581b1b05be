import { z } from "zod";
import { ValidationError, type FieldIssue } from "../errors.js";
import { defaultNamespace } from "../names.js";
import { buildConfigSpecSchema, type BuildConfigSpec } from "./build-config.js";
import { builderTemplateSpecSchema, type BuilderTemplateSpec } from "./builder-template.js";
import { schemasFor, type ObjectMeta, type Strictness } from "./common.js";
import { findListedFields } from "./field-check.js";
import { imageStreamSpecSchema, type ImageStreamSpec } from "./image-stream.js";
import { imageStreamGrantSpecSchema, type ImageStreamGrantSpec } from "./image-stream-grant.js";
import { secretDocumentSchema, type SecretSpec } from "./secret.js";

export const kilnApiVersion = "kiln.dev/v1";

/** A validated resource, always in Kiln's own `kiln.dev/v1` shape. */
export type Resource =
  | {
      apiVersion: typeof kilnApiVersion;
      kind: "BuildConfig";
      metadata: ObjectMeta & { namespace: string };
      spec: BuildConfigSpec;
    }
  | {
      apiVersion: typeof kilnApiVersion;
      kind: "ImageStream";
      metadata: ObjectMeta & { namespace: string };
      spec: ImageStreamSpec;
    }
  | {
      apiVersion: typeof kilnApiVersion;
      kind: "Secret";
      metadata: ObjectMeta & { namespace: string };
      spec: SecretSpec;
    }
  | {
      apiVersion: typeof kilnApiVersion;
      kind: "ImageStreamGrant";
      metadata: ObjectMeta & { namespace: string };
      spec: ImageStreamGrantSpec;
    }
  | {
      apiVersion: typeof kilnApiVersion;
      kind: "BuilderTemplate";
      metadata: ObjectMeta & { namespace: string };
      spec: BuilderTemplateSpec;
    };
export type ResourceKind = Resource["kind"];
export type BuildConfigResource = Extract<Resource, { kind: "BuildConfig" }>;
export type ImageStreamResource = Extract<Resource, { kind: "ImageStream" }>;
export type SecretResource = Extract<Resource, { kind: "Secret" }>;
export type ImageStreamGrantResource = Extract<Resource, { kind: "ImageStreamGrant" }>;
export type BuilderTemplateResource = Extract<Resource, { kind: "BuilderTemplate" }>;

/**
 * Which apiVersions are accepted for each kind. OpenShift's groups (and the legacy bare `v1`)
 * are read leniently and mapped onto Kiln's, so an existing BuildConfig applies unchanged.
 */
const accepted: Record<string, { kind: ResourceKind; strictness: Strictness }[]> = {
  [kilnApiVersion]: [
    { kind: "BuildConfig", strictness: "strict" },
    { kind: "ImageStream", strictness: "strict" },
    { kind: "Secret", strictness: "strict" },
    // Kiln's own: OpenShift says the same with RoleBindings, which Kiln does not read.
    { kind: "ImageStreamGrant", strictness: "strict" },
    // KubeSphere's S2iBuilderTemplate, as Kiln reads it (builder-template.ts).
    { kind: "BuilderTemplate", strictness: "strict" },
  ],
  "build.openshift.io/v1": [{ kind: "BuildConfig", strictness: "lenient" }],
  "image.openshift.io/v1": [{ kind: "ImageStream", strictness: "lenient" }],
  v1: [
    { kind: "BuildConfig", strictness: "lenient" },
    { kind: "ImageStream", strictness: "lenient" },
    // Kubernetes' core Secret, as `kubectl create secret docker-registry --dry-run -o yaml` writes it.
    { kind: "Secret", strictness: "lenient" },
  ],
};

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Turns zod issues into `path: message` pairs; a missing value reads `required`, as users expect. */
export function issuesFromZod(error: z.ZodError, prefix = ""): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const full = prefix && path ? `${prefix}.${path}` : prefix || path || "(document)";
    return { path: full, message: issue.message };
  });
}

const errorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === "invalid_type" && issue.input === undefined) return "required";
  if (issue.code === "unrecognized_keys")
    return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
  return undefined;
};

const envelope = z.object({
  apiVersion: z.string({ error: "required" }),
  kind: z.string({ error: "required" }),
});

/**
 * Validates one document. Throws {@link ValidationError} naming every wrong field path;
 * `pathPrefix` lets a caller applying many documents say which one (`items[2]`).
 */
export function parseResource(doc: unknown, pathPrefix = ""): Resource {
  return parseResourceWithWarnings(doc, pathPrefix).resource;
}

/** A document applied, and what it sets that Kiln stores or drops without acting on it. */
export interface ParsedResource {
  resource: Resource;
  /** Fields that cannot matter on Kiln (stored), and unknown fields of a lenient document (dropped). */
  warnings: FieldIssue[];
}

/**
 * {@link parseResource}, with the warnings `kiln apply` prints. A BuildConfig's fields are
 * checked against openshift-fields.ts first: a refused field fails the apply naming it.
 */
export function parseResourceWithWarnings(doc: unknown, pathPrefix = ""): ParsedResource {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ValidationError([
      {
        path: pathPrefix || "(document)",
        message: "must be a mapping with apiVersion, kind, metadata and spec",
      },
    ]);
  }
  const head = envelope.safeParse(doc, { error: errorMap });
  if (!head.success) throw new ValidationError(issuesFromZod(head.error, pathPrefix));
  const { apiVersion, kind } = head.data;
  const at = (p: string) => (pathPrefix ? `${pathPrefix}.${p}` : p);
  const versions = accepted[apiVersion];
  if (!versions) {
    throw new ValidationError([
      {
        path: at("apiVersion"),
        message: `${apiVersion} is not supported (use ${kilnApiVersion} or build.openshift.io/v1)`,
      },
    ]);
  }
  const match = versions.find((v) => v.kind === kind);
  if (!match) {
    const names = versions.map((v) => v.kind);
    const kinds =
      names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names.join("");
    throw new ValidationError([
      { path: at("kind"), message: `${kind} is not a kind of ${apiVersion} (use ${kinds})` },
    ]);
  }
  const { object, metadata: anyMetadata, buildConfigMetadata } = schemasFor(match.strictness);
  const metadata = match.kind === "BuildConfig" ? buildConfigMetadata : anyMetadata;
  if (match.kind === "Secret") {
    // A Secret has no spec: its type and data sit at the top, as in Kubernetes.
    const head = z.object({ metadata }).safeParse(doc, { error: errorMap });
    const body = secretDocumentSchema().safeParse(doc, { error: errorMap });
    if (!head.success || !body.success) {
      throw new ValidationError([
        ...(head.success ? [] : issuesFromZod(head.error, pathPrefix)),
        ...(body.success ? [] : issuesFromZod(body.error, pathPrefix)),
      ]);
    }
    const meta = {
      ...head.data.metadata,
      namespace: head.data.metadata.namespace ?? defaultNamespace,
    };
    return {
      resource: { apiVersion: kilnApiVersion, kind: "Secret", metadata: meta, spec: body.data },
      warnings: [],
    };
  }
  const spec =
    match.kind === "BuildConfig"
      ? buildConfigSpecSchema(match.strictness)
      : match.kind === "ImageStreamGrant"
        ? imageStreamGrantSpecSchema(match.strictness)
        : match.kind === "BuilderTemplate"
          ? builderTemplateSpecSchema(match.strictness)
          : imageStreamSpecSchema(match.strictness);
  const document = object({
    apiVersion: z.string(),
    kind: z.string(),
    metadata,
    spec,
    // `status` is owned by Kiln; accepted and ignored so exported YAML re-applies.
    status: z.unknown().optional(),
  });
  const listed =
    match.kind === "BuildConfig"
      ? findListedFields("BuildConfig", doc, pathPrefix)
      : { refused: [], warnings: [], rest: doc };
  const parsed = document.safeParse(listed.rest, { error: errorMap });
  if (!parsed.success || listed.refused.length > 0)
    throw new ValidationError([
      ...listed.refused,
      ...(parsed.success ? [] : issuesFromZod(parsed.error, pathPrefix)),
    ]);
  const meta = {
    ...parsed.data.metadata,
    namespace: parsed.data.metadata.namespace ?? defaultNamespace,
  };
  const resource = {
    apiVersion: kilnApiVersion,
    kind: match.kind,
    metadata: meta,
    spec: parsed.data.spec,
  } as Resource;
  const dropped =
    match.strictness === "lenient" ? unknownFields(match.kind, listed.rest, pathPrefix) : [];
  return { resource, warnings: [...listed.warnings, ...dropped] };
}

/**
 * The fields of a lenient (OpenShift) document that Kiln does not know: dropped, so the apply
 * says so, as `kubectl apply` does for an unknown field. A strict parse finds them.
 */
function unknownFields(kind: ResourceKind, doc: unknown, pathPrefix: string): FieldIssue[] {
  const { object, metadata: anyMetadata, buildConfigMetadata } = schemasFor("strict");
  const spec =
    kind === "BuildConfig"
      ? buildConfigSpecSchema("strict")
      : kind === "ImageStreamGrant"
        ? imageStreamGrantSpecSchema("strict")
        : kind === "BuilderTemplate"
          ? builderTemplateSpecSchema("strict")
          : imageStreamSpecSchema("strict");
  const strict = object({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: kind === "BuildConfig" ? buildConfigMetadata : anyMetadata,
    spec,
    status: z.unknown().optional(),
  });
  const result = strict.safeParse(doc);
  if (result.success) return [];
  return result.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => {
          const path = formatPath([...issue.path, key]);
          return {
            path: pathPrefix ? `${pathPrefix}.${path}` : path,
            message: "unknown field, not read by Kiln (dropped)",
          };
        })
      : [],
  );
}

/** Validates every document; if any is wrong, throws one error listing all of them (all or nothing). */
export function parseResources(docs: readonly unknown[]): Resource[] {
  return parseResourcesWithWarnings(docs).resources;
}

/** {@link parseResources}, with every document's warnings ({@link parseResourceWithWarnings}). */
export function parseResourcesWithWarnings(docs: readonly unknown[]): {
  resources: Resource[];
  warnings: FieldIssue[];
} {
  const issues: FieldIssue[] = [];
  const resources: Resource[] = [];
  const warnings: FieldIssue[] = [];
  docs.forEach((doc, i) => {
    try {
      const parsed = parseResourceWithWarnings(doc, `items[${i}]`);
      resources.push(parsed.resource);
      warnings.push(...parsed.warnings);
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  });
  const seen = new Set<string>();
  resources.forEach((r, i) => {
    const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
    if (seen.has(key))
      issues.push({ path: `items[${i}].metadata.name`, message: `${key} appears twice` });
    seen.add(key);
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return { resources, warnings };
}
