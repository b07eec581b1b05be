import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { requestBuild, type Bus } from "@kiln/bus";
import {
  applyResources,
  listAllBuildConfigs,
  listImageStreamGrants,
  type Db,
  type SecretBox,
} from "@kiln/db";
import {
  AccessResource,
  authorizeApply,
  authorizeImageUses,
  BuildGraph,
  configChangeBuildRequests,
  configChangeCause,
  imageStreamNameIssue,
  inPermitted,
  newBuildSizeIssue,
  parseResourcesWithWarnings,
  permittedNamespaces,
  ValidationError,
  Verb,
  type FieldIssue,
  type Resource,
  type Subject,
} from "@kiln/domain";
import { subjectFor } from "./access.js";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

/** The engine the build-runners run builds with (API_BUILD_ENGINE, as BUILD_RUNNER_ENGINE). */
export type BuildEngineKind = "local" | "noop" | "kubernetes";

/** Fields that only the build pod reads: stored, but on the local engine they do nothing, and apply says so. */
function engineWarnings(resources: readonly Resource[], engine: BuildEngineKind): FieldIssue[] {
  if (engine === "kubernetes") return [];
  return resources.flatMap((resource, i) =>
    resource.kind === "BuildConfig" && resource.spec.serviceAccount
      ? [
          {
            path: `items[${i}].spec.serviceAccount`,
            message: `stored, but has no effect on the ${engine} engine: it is the build pod's service account, and only the kubernetes engine runs build pods`,
          },
        ]
      : [],
  );
}

/**
 * `POST /apis/v1/apply`: every document is checked before anything is stored, in this order:
 * valid (400), buildable (400: its builds fit on the bus, its images have valid names), the
 * caller's to edit (403), images the BuildConfigs may use (403), no rebuild cycle (400). Any
 * refusal changes nothing.
 */
export function registerApplyRoute(
  app: App,
  options: { db: Db; bus: Bus; registry: string; secrets: SecretBox; buildEngine: BuildEngineKind },
) {
  const { db, bus, registry, secrets, buildEngine } = options;
  app.post(
    "/apis/v1/apply",
    { config: { access: { handler: true, why: "each document names its own namespace" } } },
    async (request, reply) => {
      const body = request.body as { items?: unknown } | null;
      if (!body || !Array.isArray(body.items)) {
        throw new ValidationError([{ path: "items", message: "required: a list of resources" }]);
      }
      const { resources, warnings } = parseResourcesWithWarnings(body.items);
      refuseUnbuildable(resources, registry);
      const subject = await subjectFor(
        request,
        resources.map((r) => r.metadata.namespace),
      );
      authorizeApply(subject, resources);
      authorizeImageUses(resources, await listImageStreamGrants(db), registry);
      await refuseRebuildCycles(db, subject, resources);
      const results = await applyResources(db, resources, secrets);
      // After the commit, so a refused apply asks for nothing; the domain says which trigger fires.
      for (const build of configChangeBuildRequests(resources, results))
        await requestBuild(bus, build);
      const warned = [...warnings, ...engineWarnings(resources, buildEngine)].map(
        (w) => `${w.path}: ${w.message}`,
      );
      if (warned.length > 0) reply.header("warning", warningHeaders(warned));
      return { items: results.map(({ uid: _uid, ...item }) => item), warnings: warned };
    },
  );
}

/** Bytes of `Warning` headers sent at most: the body's `warnings` has them all. */
const maxWarningHeaderBytes = 4096;

/**
 * Kubernetes' `Warning: 299 - "text"` headers, which kubectl and client-go print. A header is
 * printable ASCII only: a field name the user wrote in another script is shown as `?` there.
 */
function warningHeaders(warnings: readonly string[]): string[] {
  const headers: string[] = [];
  let bytes = 0;
  for (const text of warnings) {
    const safe = text.replace(/[^\x20-\x7e]/g, "?").replace(/["\\]/g, "\\$&");
    const header = `299 - "${safe}"`;
    if (bytes + header.length > maxWarningHeaderBytes) {
      headers.push(
        `299 - "${warnings.length - headers.length} more warnings: see the response's warnings"`,
      );
      break;
    }
    headers.push(header);
    bytes += header.length;
  }
  return headers;
}

/**
 * What parses can still be impossible to build with this registry and bus: an ImageStream whose
 * image name `<registry>/<namespace>/<name>` is over 255 characters (no registry takes it), and a
 * BuildConfig whose builds would carry a spec larger than the bus does (an inline Dockerfile of a
 * megabyte), weighed as the scheduler makes a build.
 */
function refuseUnbuildable(resources: readonly Resource[], registry: string): void {
  const issues: FieldIssue[] = [];
  resources.forEach((resource, i) => {
    const at = (path: string) => `items[${i}].${path}`;
    const { namespace, name } = resource.metadata;
    if (resource.kind === "ImageStream") {
      const problem = imageStreamNameIssue(registry, namespace, name);
      if (problem) issues.push({ path: at("metadata.name"), message: problem });
    }
    if (resource.kind !== "BuildConfig") return;
    const to = resource.spec.output.to;
    if (to?.kind === "ImageStreamTag") {
      const stream = to.name.slice(0, to.name.indexOf(":"));
      const problem = imageStreamNameIssue(registry, to.namespace ?? namespace, stream);
      if (problem) issues.push({ path: at("spec.output.to.name"), message: problem });
    }
    const issue = newBuildSizeIssue(
      resource.spec,
      {
        namespace,
        buildConfig: name,
        env: [],
        cause: configChangeCause,
      },
      registry,
    );
    if (issue) issues.push({ path: at(issue.path), message: issue.message });
  });
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * A set of BuildConfigs whose ImageChange triggers feed each other would rebuild for ever. The
 * cycle may pass through namespaces the caller cannot read: those BuildConfigs are not named.
 */
async function refuseRebuildCycles(db: Db, subject: Subject, resources: Resource[]): Promise<void> {
  const applied = resources.flatMap((r, i) =>
    r.kind === "BuildConfig"
      ? [{ i, bc: { namespace: r.metadata.namespace, name: r.metadata.name, spec: r.spec } }]
      : [],
  );
  if (applied.length === 0) return;
  const replaced = new Set(applied.map(({ bc }) => `${bc.namespace}/${bc.name}`));
  const stored = (await listAllBuildConfigs(db)).filter(
    (bc) => !replaced.has(`${bc.namespace}/${bc.name}`),
  );
  const cycle = new BuildGraph([...stored, ...applied.map(({ bc }) => bc)]).findCycle();
  if (!cycle) return;
  const readable = permittedNamespaces(subject, Verb.Read, AccessResource.BuildConfigs);
  const shown = cycle.map((id) => {
    const namespace = id.slice(0, id.indexOf("/"));
    return inPermitted(readable, namespace) ? id : `${namespace}/(a BuildConfig)`;
  });
  const at = applied.find(({ bc }) => cycle.includes(`${bc.namespace}/${bc.name}`))?.i ?? 0;
  throw new ValidationError([
    {
      path: `items[${at}].spec.triggers`,
      message: `would make a rebuild cycle: ${shown.join(" → ")}`,
    },
  ]);
}
