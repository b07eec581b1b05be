/**
 * No silent drops: every field of OpenShift's `build.openshift.io/v1` BuildConfig and Build is in
 * exactly one of three lists (openshift-fields.test.ts walks OpenShift's published schema against
 * them). A field Kiln accepted and ignored would let the user believe it works.
 *
 * Paths are written as in the schema: `a.b`, `list[]` for a list's items. An entry ending in `.**`
 * covers the field and everything below it; any other entry covers that field alone.
 */

/** The kinds whose fields are listed. */
export const OpenShiftKind = { BuildConfig: "BuildConfig", Build: "Build" } as const;
export type OpenShiftKind = (typeof OpenShiftKind)[keyof typeof OpenShiftKind];

export const FieldTreatment = {
  /** Kiln does what OpenShift does with it. */
  Honoured: "honoured",
  /** Apply fails naming the field: Kiln cannot do what it asks. */
  Refused: "refused",
  /** Apply stores it and warns: it cannot matter on Kiln. */
  Warned: "warned",
} as const;
export type FieldTreatment = (typeof FieldTreatment)[keyof typeof FieldTreatment];

/** path → a note (for honoured fields), the reason it is refused, or why it cannot matter. */
type FieldList = Readonly<Record<string, string>>;

const strategies = ["sourceStrategy", "dockerStrategy"] as const;
/** Kiln's image references are found by kind, namespace and name, as OpenShift's builds find theirs. */
const imageReferences = [
  "spec.output.to",
  "spec.source.images[].from",
  "spec.strategy.sourceStrategy.from",
  "spec.strategy.dockerStrategy.from",
  "spec.triggers[].imageChange.from",
];
// OpenShift's; Kiln's own gitea trigger is not in its schema.
const webhooks = ["github", "gitlab", "bitbucket", "generic"] as const;
/** The env lists of the two strategies Kiln runs, and the Docker strategy's build args. */
const envLists = [
  "spec.strategy.sourceStrategy.env[]",
  "spec.strategy.dockerStrategy.env[]",
  "spec.strategy.dockerStrategy.buildArgs[]",
];

const entries = (paths: readonly string[], note: string): [string, string][] =>
  paths.map((p) => [p, note]);

const honoured: FieldList = Object.fromEntries([
  ...entries(["metadata", "spec", "spec.source", "spec.strategy", "spec.output"], ""),
  ["status.**", "Kiln sets it; ignored on apply, as Kubernetes ignores a status"],
  ...entries(
    [
      "spec.completionDeadlineSeconds",
      "spec.successfulBuildsHistoryLimit",
      "spec.failedBuildsHistoryLimit",
      "spec.runPolicy",
      "spec.output.imageLabels[]",
      "spec.output.imageLabels[].name",
      "spec.output.imageLabels[].value",
      "spec.output.pushSecret",
      "spec.output.pushSecret.name",
      "spec.source.type",
      "spec.source.binary",
      "spec.source.binary.asFile",
      "spec.source.contextDir",
      "spec.source.dockerfile",
      "spec.source.git",
      "spec.source.git.uri",
      "spec.source.git.ref",
      "spec.source.git.httpProxy",
      "spec.source.git.httpsProxy",
      "spec.source.git.noProxy",
      "spec.source.images[]",
      "spec.source.images[].paths[]",
      "spec.source.images[].paths[].sourcePath",
      "spec.source.images[].paths[].destinationDir",
      "spec.source.sourceSecret",
      "spec.source.sourceSecret.name",
      "spec.strategy.type",
      "spec.strategy.sourceStrategy.incremental",
      "spec.strategy.sourceStrategy.scripts",
      "spec.strategy.dockerStrategy.dockerfilePath",
      "spec.strategy.dockerStrategy.noCache",
      "spec.triggers[]",
      "spec.triggers[].type",
      "spec.triggers[].imageChange",
      "spec.triggers[].imageChange.lastTriggeredImageID",
      "spec.triggers[].imageChange.paused",
    ],
    "",
  ),
  ...entries(["spec.postCommit", "spec.postCommit.script", "spec.postCommit.command[]"], ""),
  ["spec.postCommit.args[]", ""],
  ...entries(
    [
      "spec.nodeSelector",
      "spec.serviceAccount",
      "spec.resources",
      "spec.resources.limits",
      "spec.resources.requests",
    ],
    "the build pod's, on the kubernetes engine; the local engine runs builds on its own machine",
  ),
  ...strategies.flatMap((s) =>
    entries(
      [
        `spec.strategy.${s}`,
        `spec.strategy.${s}.forcePull`,
        `spec.strategy.${s}.pullSecret`,
        `spec.strategy.${s}.pullSecret.name`,
      ],
      "",
    ),
  ),
  ...envLists.flatMap((list) => entries([list, `${list}.name`, `${list}.value`], "")),
  ...envLists.flatMap((list) =>
    entries(
      [
        `${list}.valueFrom`,
        `${list}.valueFrom.secretKeyRef`,
        `${list}.valueFrom.secretKeyRef.name`,
        `${list}.valueFrom.secretKeyRef.key`,
        `${list}.valueFrom.secretKeyRef.optional`,
      ],
      "read from a Kiln Opaque Secret of the build's namespace when the build runs",
    ),
  ),
  ...imageReferences.flatMap((ref) =>
    entries([ref, `${ref}.kind`, `${ref}.name`, `${ref}.namespace`], ""),
  ),
  ...webhooks.flatMap((hook) =>
    entries(
      [
        `spec.triggers[].${hook}`,
        `spec.triggers[].${hook}.secret`,
        `spec.triggers[].${hook}.secretReference`,
        `spec.triggers[].${hook}.secretReference.name`,
        `spec.triggers[].${hook}.allowEnv`,
      ],
      "",
    ),
  ),
]);

const noConfigMaps = "Kiln has no ConfigMaps";

const refused: FieldList = Object.fromEntries([
  [
    "spec.strategy.customStrategy.**",
    "the Custom strategy runs a builder image with the cluster's container socket (use Docker or Source)",
  ],
  ["spec.strategy.jenkinsPipelineStrategy.**", "Kiln runs no Jenkins (use Docker or Source)"],
  ...strategies.map((s): [string, string] => [
    `spec.strategy.${s}.volumes[].**`,
    "build volumes are not mounted into Kiln's builds",
  ]),
  [
    "spec.mountTrustedCA",
    "Kiln has no cluster-wide trusted CA bundle to mount (put the CA in the builder image)",
  ],
  ["spec.source.configMaps[].**", `${noConfigMaps} (put the files in the source)`],
  ["spec.source.secrets[].**", "build input Secrets are not placed in the build context yet"],
  [
    "spec.source.images[].as[].**",
    "replacing a Dockerfile's FROM images by an image source is not supported",
  ],
  [
    "spec.source.images[].pullSecret.**",
    "an image source's own pull secret is not supported (the strategy's pullSecret is used)",
  ],
  ["spec.resources.claims[].**", "dynamic resource claims are not supported"],
  ...envLists.flatMap((list): [string, string][] => [
    [`${list}.valueFrom.configMapKeyRef.**`, `${noConfigMaps} (use secretKeyRef or value)`],
    [
      `${list}.valueFrom.fieldRef.**`,
      "a build has no pod fields to read on the local engine (use value)",
    ],
    [
      `${list}.valueFrom.resourceFieldRef.**`,
      "a build's resources are not read into env (use value)",
    ],
    [`${list}.valueFrom.fileKeyRef.**`, "build volumes are not mounted into Kiln's builds"],
  ]),
]);

const warned: FieldList = Object.fromEntries([
  [
    "spec.revision.**",
    "Kiln records the revision each build used; a BuildConfig's is not read, as in OpenShift",
  ],
  [
    "spec.strategy.dockerStrategy.imageOptimizationPolicy",
    "Kiln keeps the Dockerfile's layers (OpenShift's default, None); the image's content is the same",
  ],
  ...imageReferences.flatMap((ref) =>
    entries(
      [`${ref}.apiVersion`, `${ref}.fieldPath`, `${ref}.resourceVersion`, `${ref}.uid`],
      "Kiln finds the image by kind, namespace and name",
    ),
  ),
]);

const build =
  "a Build is made by Kiln from its BuildConfig (kiln start-build, a trigger), not applied";

/** The three lists of each kind. Kiln applies no Build document: all of its fields are refused. */
export const openShiftFields: Readonly<
  Record<OpenShiftKind, Readonly<Record<FieldTreatment, FieldList>>>
> = {
  BuildConfig: { honoured, refused, warned },
  Build: {
    honoured: {},
    refused: { metadata: build, "spec.**": build, "status.**": build },
    warned: {},
  },
};

/** Whether list entry `entry` covers field path `path` (both in schema form, `a.b[].c`). */
function entryCovers(entry: string, path: string): boolean {
  if (!entry.endsWith(".**")) return entry === path;
  const base = entry.slice(0, -3);
  return path === base || path.startsWith(`${base}.`);
}

/** The entries of `list` that cover `path`. */
export function coveringEntries(list: FieldList, path: string): string[] {
  return Object.keys(list).filter((entry) => entryCovers(entry, path));
}
