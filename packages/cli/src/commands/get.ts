import type { CommandContext } from "../context.js";
import { ApiError, UsageError } from "../errors.js";
import {
  builderTemplateLayout,
  buildConfigLayout,
  buildLayout,
  deployLayout,
  imageStreamGrantLayout,
  imageStreamLayout,
  secretLayout,
  tokenLayout,
  type TableLayout,
} from "../output/columns.js";
import { formatResources, type OutputFormat } from "../output/format.js";
import { renderTable } from "../output/table.js";
import { kindOf, parseResourceArgs, type ResourceType } from "../resource-types.js";
import { findTemplate, visibleTemplates } from "../templates.js";
import { watchBuilds } from "./watch-builds.js";
import type {
  BuilderTemplate,
  Build,
  BuildConfig,
  Deploy,
  ImageStream,
  ImageStreamGrant,
  Secret,
  Token,
} from "../resources.js";

export interface GetOptions {
  namespace?: string | undefined;
  output?: OutputFormat | undefined;
  /** `get builds --bc NAME`: only that BuildConfig's builds. */
  bc?: string | undefined;
  /** `get builds -w`: then a row for every change, until stopped (watch-builds.ts). */
  watch?: boolean | undefined;
}

type AnyResource =
  BuildConfig | Build | ImageStream | Secret | Deploy | ImageStreamGrant | BuilderTemplate | Token;

/** `kiln get TYPE [NAME]`: a table by default, or json / yaml / name for scripts. */
export async function getCommand(
  ctx: CommandContext,
  typeArg: string,
  nameArg: string | undefined,
  options: GetOptions,
): Promise<void> {
  const { type, name } = parseResourceArgs(typeArg, nameArg);
  if (options.bc !== undefined && type !== "builds")
    throw new UsageError("--bc only applies to builds");
  if (options.watch && type !== "builds") throw new UsageError("--watch only applies to builds");
  const namespace = ctx.namespace(options.namespace);
  if (options.watch) {
    await watchBuilds(ctx, { namespace, name, bc: options.bc, output: options.output });
    return;
  }
  const client = ctx.client();

  let items: AnyResource[];
  if (name !== undefined) {
    items = [await getOne(ctx, type, namespace, name)];
  } else if (type === "buildconfigs") {
    items = sortByName(await client.listBuildConfigs(namespace));
  } else if (type === "imagestreams") {
    items = sortByName(await client.listImageStreams(namespace));
  } else if (type === "secrets") {
    items = sortByName(await client.listSecrets(namespace));
  } else if (type === "imagestreamgrants") {
    items = sortByName(await client.listImageStreamGrants(namespace));
  } else if (type === "buildertemplates") {
    items = await visibleTemplates(client, namespace); // the namespace's and the shared ones
  } else if (type === "tokens") {
    items = await client.listTokens(); // by name, as the API sorts
  } else if (type === "deploys") {
    items = await client.listDeploys(namespace); // newest first, as the API sorts
  } else {
    items = await client.listBuilds(namespace, { buildConfig: options.bc }); // newest first, as the API sorts
  }

  if (options.output) {
    ctx.out(
      formatResources(items, options.output, { single: name !== undefined, kind: kindOf[type] }),
    );
    return;
  }
  if (items.length === 0) {
    // kubectl says this on stderr, so a pipeline reading stdout sees an empty table, not prose.
    ctx.err(
      type === "tokens" ? "No tokens found.\n" : `No resources found in ${namespace} namespace.\n`,
    );
    return;
  }
  ctx.out(table(type, items, ctx.io.now()));
}

function getOne(
  ctx: CommandContext,
  type: ResourceType,
  namespace: string,
  name: string,
): Promise<AnyResource> {
  const client = ctx.client();
  switch (type) {
    case "buildconfigs":
      return client.getBuildConfig(namespace, name);
    case "builds":
      return client.getBuild(namespace, name);
    case "imagestreams":
      return client.getImageStream(namespace, name);
    case "secrets":
      return client.getSecret(namespace, name);
    case "deploys":
      return client.getDeploy(namespace, name);
    case "imagestreamgrants":
      return client.getImageStreamGrant(namespace, name);
    case "buildertemplates":
      return findTemplate(client, namespace, name);
    case "tokens":
      return getToken(ctx, name);
  }
}

/** Tokens are only listed by the API; one is found in the caller's list. */
async function getToken(ctx: CommandContext, name: string): Promise<Token> {
  const token = (await ctx.client().listTokens()).find((t) => t.metadata.name === name);
  if (!token) throw new ApiError(404, "NotFound", `token "${name}" not found`);
  return token;
}

function table(type: ResourceType, items: AnyResource[], now: Date): string {
  const layout = layoutFor(type) as TableLayout<AnyResource>;
  return renderTable(
    layout.headers,
    items.map((item) => layout.row(item, now)),
  );
}

function layoutFor(
  type: ResourceType,
):
  | TableLayout<BuildConfig>
  | TableLayout<Build>
  | TableLayout<ImageStream>
  | TableLayout<Secret>
  | TableLayout<Deploy>
  | TableLayout<ImageStreamGrant>
  | TableLayout<BuilderTemplate>
  | TableLayout<Token> {
  switch (type) {
    case "buildconfigs":
      return buildConfigLayout;
    case "builds":
      return buildLayout;
    case "imagestreams":
      return imageStreamLayout;
    case "secrets":
      return secretLayout;
    case "deploys":
      return deployLayout;
    case "imagestreamgrants":
      return imageStreamGrantLayout;
    case "buildertemplates":
      return builderTemplateLayout;
    case "tokens":
      return tokenLayout;
  }
}

function sortByName<T extends { metadata: { name: string } }>(items: T[]): T[] {
  return [...items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
