import type {
  BuilderTemplate,
  Build,
  BuildConfig,
  Deploy,
  ImageStream,
  ImageStreamGrant,
  Secret,
  Token,
  WireSource,
  WireStrategy,
} from "../resources.js";
import { formatDuration, relativeTime } from "./time.js";

/** Table layouts for `kiln get`; the columns match `oc get` so muscle memory carries over. */
export interface TableLayout<T> {
  headers: readonly string[];
  row(item: T, now: Date): string[];
}

export function strategyType(strategy: WireStrategy | undefined): string {
  if (strategy?.type) return strategy.type;
  if (strategy?.sourceStrategy) return "Source";
  if (strategy?.dockerStrategy) return "Docker";
  return "";
}

export function sourceType(source: WireSource | undefined): string {
  if (source?.type) return source.type;
  if (source?.git) return "Git";
  if (source?.binary) return "Binary";
  if (source?.dockerfile) return "Dockerfile";
  return "";
}

function shortCommit(commit: string | undefined): string {
  return commit ? commit.slice(0, 7) : "";
}

/** `Failed (FetchSourceFailed)`: the reason is what a user greps for when a build breaks. */
export function buildStatus(build: Build): string {
  const phase = build.status?.phase ?? "";
  const reason = build.status?.reason;
  return reason && phase !== "Complete" ? `${phase} (${reason})` : phase;
}

export function buildDurationMs(build: Build): number | undefined {
  const s = build.status;
  if (typeof s?.durationMs === "number") return s.durationMs;
  if (s?.startTimestamp && s.completionTimestamp) {
    return new Date(s.completionTimestamp).getTime() - new Date(s.startTimestamp).getTime();
  }
  return undefined;
}

export const buildConfigLayout: TableLayout<BuildConfig> = {
  headers: ["NAME", "TYPE", "FROM", "LATEST"],
  row(bc) {
    const source = bc.spec?.source;
    const type = sourceType(source);
    const from = type === "Git" && source?.git?.ref ? `Git@${source.git.ref}` : type;
    return [
      bc.metadata.name,
      strategyType(bc.spec?.strategy),
      from,
      String(bc.status?.lastVersion ?? 0),
    ];
  },
};

export const buildLayout: TableLayout<Build> = {
  headers: ["NAME", "TYPE", "FROM", "STATUS", "STARTED", "DURATION"],
  row(build, now) {
    const type = sourceType(build.spec?.source);
    const commit = shortCommit(build.spec?.revision?.commit);
    const from = commit ? `${type || "Git"}@${commit}` : type;
    return [
      build.metadata.name,
      strategyType(build.spec?.strategy),
      from,
      buildStatus(build),
      relativeTime(build.status?.startTimestamp, now),
      formatDuration(buildDurationMs(build)),
    ];
  },
};

/** Tags beyond this many are summarised, as `oc get is` does, so the row stays readable. */
const maxTagsShown = 3;

function imageStreamUpdated(is: ImageStream): string | undefined {
  let latest: string | undefined;
  for (const tag of is.status?.tags ?? []) {
    const created = tag.items?.[0]?.created;
    if (created && (!latest || new Date(created) > new Date(latest))) latest = created;
  }
  return latest;
}

/** `Deployment/apps/web` or the HTTP target's URL. */
function deployTarget(deploy: Deploy): string {
  const t = deploy.spec?.target;
  if (t?.type === "HTTP") return t.url ?? "";
  return [t?.kind, t?.namespace, t?.name].filter(Boolean).join("/");
}

/** `Failed (FieldPathNotFound)`, as for builds: the reason is what a user greps for. */
function deployStatus(deploy: Deploy): string {
  const phase = deploy.status?.phase ?? "";
  const reason = deploy.status?.reason;
  return reason ? `${phase} (${reason})` : phase;
}

/** `app:latest@sha256:3f2a9c1b7e44`: the tag and a short digest. */
function deployImage(deploy: Deploy): string {
  const tag = deploy.spec?.imageStreamTag?.replace(/^[^/]*\//, "") ?? "";
  const digest = deploy.spec?.digest ? deploy.spec.digest.slice(0, 19) : "";
  return digest ? `${tag}@${digest}` : tag;
}

export const deployLayout: TableLayout<Deploy> = {
  headers: ["NAME", "TARGET", "IMAGE", "STATUS", "CAUSE", "CREATED", "DURATION"],
  row(deploy, now) {
    const s = deploy.status;
    const cause = deploy.spec?.cause;
    const duration =
      s?.startTimestamp && s.completionTimestamp
        ? new Date(s.completionTimestamp).getTime() - new Date(s.startTimestamp).getTime()
        : undefined;
    return [
      deploy.metadata.name.slice(0, 8),
      deployTarget(deploy),
      deployImage(deploy),
      deployStatus(deploy),
      cause?.build ? `${cause.type ?? ""} ${cause.build}` : (cause?.type ?? ""),
      relativeTime(deploy.metadata.creationTimestamp, now),
      formatDuration(duration),
    ];
  },
};

/**
 * DATA says what a Secret is good for without a value: the registries a docker config has
 * credentials for, the key names of an Opaque Secret (`WebHookSecretKey` for a webhook's).
 */
export const secretLayout: TableLayout<Secret> = {
  headers: ["NAME", "TYPE", "DATA", "AGE"],
  row(secret, now) {
    const data = secret.registries ?? Object.keys(secret.data ?? {});
    return [
      secret.metadata.name,
      secret.type ?? "",
      data.join(","),
      relativeTime(secret.metadata.creationTimestamp, now),
    ];
  },
};

export const imageStreamGrantLayout: TableLayout<ImageStreamGrant> = {
  headers: ["NAME", "GRANTEE", "ACCESS", "IMAGESTREAMS", "AGE"],
  row(grant, now) {
    return [
      grant.metadata.name,
      grant.spec?.grantee?.namespace ?? "",
      (grant.spec?.access ?? []).join(","),
      grant.spec?.imageStreams?.join(",") ?? "(all)",
      relativeTime(grant.metadata.creationTimestamp, now),
    ];
  },
};

/** NAMESPACE says whose a template is: the namespace's own, or the shared `openshift` one. */
export const builderTemplateLayout: TableLayout<BuilderTemplate> = {
  headers: ["NAME", "FRAMEWORK", "VERSIONS", "DETECTS", "NAMESPACE", "AGE"],
  row(template, now) {
    const spec = template.spec;
    const versions = (spec?.versions ?? []).map((v) =>
      v.name === (spec?.defaultVersion ?? spec?.versions?.[0]?.name) ? `${v.name}*` : v.name,
    );
    return [
      template.metadata.name,
      spec?.codeFramework ?? "",
      versions.join(","),
      (spec?.detect?.files ?? []).join(","),
      template.metadata.namespace ?? "",
      relativeTime(template.metadata.creationTimestamp, now),
    ];
  },
};

/** `team-a=edit,team-b=view`: the roles the caller may see. */
export const tokenLayout: TableLayout<Token> = {
  headers: ["NAME", "ROLES", "CREATED BY", "AGE"],
  row(token, now) {
    return [
      token.metadata.name,
      (token.roles ?? []).map((r) => `${r.namespace}=${r.role}`).join(","),
      token.createdBy ?? "",
      relativeTime(token.metadata.creationTimestamp, now),
    ];
  },
};

export const imageStreamLayout: TableLayout<ImageStream> = {
  headers: ["NAME", "IMAGE REPOSITORY", "TAGS", "UPDATED"],
  row(is, now) {
    const tags = (is.status?.tags ?? []).map((t) => t.tag);
    const shown = tags.slice(0, maxTagsShown).join(",");
    const more = tags.length > maxTagsShown ? ` + ${tags.length - maxTagsShown} more...` : "";
    return [
      is.metadata.name,
      is.status?.publicDockerImageRepository ?? is.status?.dockerImageRepository ?? "",
      shown + more,
      relativeTime(imageStreamUpdated(is), now),
    ];
  },
};
