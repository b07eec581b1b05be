import { assertNever } from "../assert-never.js";
import { ForbiddenError, type FieldIssue } from "../errors.js";
import type { Resource, ResourceKind } from "../resources/parse.js";
import {
  deniedUses,
  describeDeniedUse,
  imageStreamUses,
  type ImageStreamGrantRule,
} from "./image-access.js";
import { AccessResource, refusal, Verb, type Subject } from "./roles.js";

/** The resource a kind is authorized as. */
export function accessResourceOf(kind: ResourceKind): AccessResource {
  switch (kind) {
    case "BuildConfig":
      return AccessResource.BuildConfigs;
    case "ImageStream":
      return AccessResource.ImageStreams;
    case "Secret":
      return AccessResource.Secrets;
    case "ImageStreamGrant":
      return AccessResource.ImageStreamGrants;
    case "BuilderTemplate":
      return AccessResource.BuilderTemplates;
    default:
      return assertNever(kind, "resource kind");
  }
}

/** Throws the first refusal (and all of them in `details`) when `issues` is not empty. */
function refuseAll(issues: FieldIssue[]): void {
  if (issues.length > 0) throw new ForbiddenError(issues[0]!.message, issues);
}

/**
 * Every document of an apply must be the caller's to edit: one refused document refuses the
 * whole apply, which then changes nothing (as an invalid one does).
 */
export function authorizeApply(subject: Subject, resources: readonly Resource[]): void {
  const issues: FieldIssue[] = [];
  resources.forEach((r, i) => {
    const refused = refusal(subject, {
      verb: Verb.Edit,
      resource: accessResourceOf(r.kind),
      namespace: r.metadata.namespace,
    });
    if (refused) issues.push({ path: `items[${i}]`, message: refused.message });
  });
  refuseAll(issues);
}

/**
 * Every BuildConfig of an apply may use only its own namespace's ImageStreams and those another
 * namespace grants it, counting the grants as they will be once the apply is stored (`stored`
 * with the apply's own ImageStreamGrants in place of the same names). Whoever applies, the
 * bootstrap token too: a build uses what its BuildConfig names, whoever wrote it.
 */
export function authorizeImageUses(
  resources: readonly Resource[],
  stored: readonly ImageStreamGrantRule[],
  registry: string,
): void {
  const applied = resources.flatMap((r) =>
    r.kind === "ImageStreamGrant"
      ? [{ namespace: r.metadata.namespace, name: r.metadata.name, spec: r.spec }]
      : [],
  );
  const replaced = new Set(applied.map((g) => `${g.namespace}/${g.name}`));
  const grants = [...stored.filter((g) => !replaced.has(`${g.namespace}/${g.name}`)), ...applied];
  const issues: FieldIssue[] = [];
  resources.forEach((r, i) => {
    if (r.kind !== "BuildConfig") return;
    const { namespace, name } = r.metadata;
    for (const use of deniedUses(imageStreamUses(r.spec, namespace, registry), grants, namespace))
      issues.push({
        path: `items[${i}].${use.path}`,
        message: describeDeniedUse({ namespace, name }, use),
      });
  });
  refuseAll(issues);
}
