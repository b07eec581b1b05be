import type { KilnClient } from "./client.js";
import { ApiError } from "./errors.js";
import type { BuilderTemplate } from "./resources.js";

/** Where the BuilderTemplates every namespace sees live (the domain's sharedTemplatesNamespace). */
export const sharedTemplatesNamespace = "openshift";

/**
 * The templates a namespace can use: its own, and the shared ones it has none of the same
 * name of (its own shadows a shared one, as a local ImageStream does in `oc new-app`).
 */
export async function visibleTemplates(
  client: KilnClient,
  namespace: string,
): Promise<BuilderTemplate[]> {
  const own = await client.listBuilderTemplates(namespace);
  if (namespace === sharedTemplatesNamespace) return sortByName(own);
  const names = new Set(own.map((t) => t.metadata.name));
  const shared = (await client.listBuilderTemplates(sharedTemplatesNamespace)).filter(
    (t) => !names.has(t.metadata.name),
  );
  return sortByName([...own, ...shared]);
}

/** One template by name: the namespace's own, else the shared one. */
export async function findTemplate(
  client: KilnClient,
  namespace: string,
  name: string,
): Promise<BuilderTemplate> {
  try {
    return await client.getBuilderTemplate(namespace, name);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    if (namespace === sharedTemplatesNamespace) throw error;
    try {
      return await client.getBuilderTemplate(sharedTemplatesNamespace, name);
    } catch (shared) {
      if (shared instanceof ApiError && shared.status === 404)
        throw new ApiError(
          404,
          "NotFound",
          `BuilderTemplate "${name}" not found in namespace ${namespace} nor in the shared ${sharedTemplatesNamespace} namespace`,
        );
      throw shared;
    }
  }
}

function sortByName(items: BuilderTemplate[]): BuilderTemplate[] {
  return [...items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
