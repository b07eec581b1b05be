import {
  currentTriggerImages,
  findBuildByRequestId,
  importedImages,
  insertBuild,
  latestBuildOf,
  lockBuildConfig,
  type Db,
} from "@kiln/db";
import {
  planNextBuild,
  type BinaryInput,
  type BuildCause,
  type BuildRecord,
  type EnvVar,
  type PinnedImages,
} from "@kiln/domain";

interface NewBuildRequest {
  requestId: string;
  namespace: string;
  buildConfig: string;
  commit?: string | undefined;
  env: EnvVar[];
  cause: BuildCause;
  /** The uploaded source of a binary build; copied into the spec so the dispatch carries it. */
  binary?: BinaryInput | undefined;
  /** Images an image change pinned by digest for this build. */
  pinnedImages?: PinnedImages | undefined;
}

/**
 * Records a build for a request, in one transaction: lock the BuildConfig row, plan its next
 * build from it (`planNextBuild`), store it with the new `lastVersion`. Concurrent requests
 * serialise on the row lock, so numbers never repeat; a request seen before (a redelivery)
 * returns the build it already made.
 */
export async function createBuildForRequest(
  db: Db,
  request: NewBuildRequest,
  options: { registry: string },
): Promise<{ build: BuildRecord; created: boolean }> {
  return db.transaction(async (tx) => {
    const existing = await findBuildByRequestId(tx, request.requestId);
    if (existing) return { build: existing, created: false };
    const bc = await lockBuildConfig(tx, request.namespace, request.buildConfig);
    // A new BuildConfig's ConfigChange build when its ImageChange trigger has built it already
    // (from the same spec and the same images): one build, as in OpenShift.
    if (request.cause.type === "ConfigChange" && bc.lastVersion > 0) {
      const latest = await latestBuildOf(tx, bc.namespace, bc.name);
      if (latest) return { build: latest, created: false };
    }
    const inputs = await currentTriggerImages(tx, bc.namespace, bc.spec);
    const digests = Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.digest]));
    const pinned = Object.fromEntries(
      Object.entries(inputs).map(([k, i]) => [k, i.imageReference]),
    );
    const planned = planNextBuild(
      bc,
      {
        ...request,
        pinnedImages: {
          ...(await importedImages(tx, bc.namespace, bc.spec)),
          ...pinned,
          ...request.pinnedImages,
        },
      },
      options.registry,
    );
    const build = await insertBuild(
      tx,
      bc,
      { ...planned, requestId: request.requestId },
      Object.keys(digests).length > 0 ? { imageTriggers: { ...bc.imageTriggers, ...digests } } : {},
    );
    return { build, created: true };
  });
}

/**
 * A build set off by image changes, in one transaction with recording which digests set it off
 * (`lastTriggeredImageID`): no crash between the two can lose the trigger or build it twice.
 * Returns null when, under the BuildConfig's lock, those digests turn out to be recorded
 * already (another reconcile got there first).
 */
export async function createImageTriggeredBuild(
  db: Db,
  request: NewBuildRequest,
  options: { registry: string },
  triggeredBy: Record<string, string>,
): Promise<BuildRecord | null> {
  return db.transaction(async (tx) => {
    if (await findBuildByRequestId(tx, request.requestId)) return null;
    const bc = await lockBuildConfig(tx, request.namespace, request.buildConfig);
    if (Object.entries(triggeredBy).every(([key, digest]) => bc.imageTriggers[key] === digest))
      return null;
    // What the change pinned wins; any other input that is an imported tag is pulled from the
    // imported digest's source (referencePolicy Source), as a manual build's is.
    const planned = planNextBuild(
      bc,
      {
        ...request,
        pinnedImages: {
          ...(await importedImages(tx, bc.namespace, bc.spec)),
          ...request.pinnedImages,
        },
      },
      options.registry,
    );
    return insertBuild(
      tx,
      bc,
      { ...planned, requestId: request.requestId },
      { imageTriggers: { ...bc.imageTriggers, ...triggeredBy } },
    );
  });
}
