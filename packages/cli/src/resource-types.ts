import { UsageError } from "./errors.js";

/** The resource types the CLI knows; values are the API's plural path segments. */
export const ResourceType = {
  BuildConfig: "buildconfigs",
  Build: "builds",
  ImageStream: "imagestreams",
  Secret: "secrets",
  Deploy: "deploys",
  ImageStreamGrant: "imagestreamgrants",
  BuilderTemplate: "buildertemplates",
  /** Not namespaced: a token has roles in namespaces. */
  Token: "tokens",
} as const;
export type ResourceType = (typeof ResourceType)[keyof typeof ResourceType];

/** Singular kind for `-o name` and messages. */
export const kindOf: Record<ResourceType, string> = {
  buildconfigs: "BuildConfig",
  builds: "Build",
  imagestreams: "ImageStream",
  secrets: "Secret",
  deploys: "Deploy",
  imagestreamgrants: "ImageStreamGrant",
  buildertemplates: "BuilderTemplate",
  tokens: "Token",
};

const aliases: Record<string, ResourceType> = {
  bc: "buildconfigs",
  buildconfig: "buildconfigs",
  buildconfigs: "buildconfigs",
  "buildconfig.kiln.dev": "buildconfigs",
  build: "builds",
  builds: "builds",
  "build.kiln.dev": "builds",
  is: "imagestreams",
  imagestream: "imagestreams",
  imagestreams: "imagestreams",
  "imagestream.kiln.dev": "imagestreams",
  secret: "secrets",
  secrets: "secrets",
  deploy: "deploys",
  deploys: "deploys",
  "deploy.kiln.dev": "deploys",
  isgrant: "imagestreamgrants",
  imagestreamgrant: "imagestreamgrants",
  imagestreamgrants: "imagestreamgrants",
  "imagestreamgrant.kiln.dev": "imagestreamgrants",
  template: "buildertemplates",
  templates: "buildertemplates",
  buildertemplate: "buildertemplates",
  buildertemplates: "buildertemplates",
  "buildertemplate.kiln.dev": "buildertemplates",
  token: "tokens",
  tokens: "tokens",
};

export function parseResourceType(word: string, allowed?: readonly ResourceType[]): ResourceType {
  const type = aliases[word.toLowerCase()];
  const ok = allowed ?? (Object.values(ResourceType) as ResourceType[]);
  if (!type || !ok.includes(type)) {
    const names = Object.entries(aliases)
      .filter(([alias, t]) => ok.includes(t) && !alias.includes("."))
      .map(([alias]) => alias);
    throw new UsageError(
      `unknown resource type ${JSON.stringify(word)} (use one of: ${names.join(", ")})`,
    );
  }
  return type;
}

/**
 * Accepts both `TYPE NAME` and kubectl's `TYPE/NAME`, e.g. `get bc hello` and `get bc/hello`.
 */
export function parseResourceArgs(
  typeArg: string,
  nameArg: string | undefined,
  allowed?: readonly ResourceType[],
): { type: ResourceType; name: string | undefined } {
  const slash = typeArg.indexOf("/");
  if (slash >= 0) {
    if (nameArg !== undefined)
      throw new UsageError(`give either ${typeArg} or a separate name, not both`);
    const name = typeArg.slice(slash + 1);
    if (!name) throw new UsageError(`missing name after ${typeArg}`);
    return { type: parseResourceType(typeArg.slice(0, slash), allowed), name };
  }
  return { type: parseResourceType(typeArg, allowed), name: nameArg };
}
