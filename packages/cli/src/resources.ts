/**
 * The wire shapes the CLI reads (docs/api.md). Everything below `metadata.name` is optional on
 * purpose: the CLI must print whatever a newer or older API sends without crashing on a missing field.
 */

interface WireMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface WireImageRef {
  kind?: string;
  name?: string;
  namespace?: string;
}

export interface WireSource {
  type?: string;
  git?: { uri?: string; ref?: string };
  contextDir?: string;
  dockerfile?: string;
  binary?: { asFile?: string };
}

export interface WireStrategy {
  type?: string;
  sourceStrategy?: {
    from?: WireImageRef;
    env?: { name: string; value?: string }[];
    incremental?: boolean;
  };
  dockerStrategy?: {
    from?: WireImageRef;
    dockerfilePath?: string;
    buildArgs?: { name: string; value?: string }[];
  };
}

/** A webhook trigger's settings (`github`, `gitlab`, `bitbucket`, `gitea`, `generic`). */
export interface WireWebhook {
  secret?: string;
  secretReference?: { name?: string };
  allowEnv?: boolean;
  includeTags?: boolean;
}

export interface WireTrigger {
  type?: string;
  github?: WireWebhook;
  gitlab?: WireWebhook;
  bitbucket?: WireWebhook;
  gitea?: WireWebhook;
  generic?: WireWebhook;
  imageChange?: { from?: WireImageRef; lastTriggeredImageID?: string; paused?: boolean };
}

export interface BuildConfig {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: {
    source?: WireSource;
    strategy?: WireStrategy;
    output?: { to?: WireImageRef };
    triggers?: WireTrigger[];
    runPolicy?: string;
  };
  status?: { lastVersion?: number };
}

interface BuildCause {
  type?: string;
  message?: string;
  user?: string;
  commit?: string;
  image?: string;
}

export interface Build {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: {
    buildConfig?: string;
    number?: number;
    source?: WireSource;
    strategy?: WireStrategy;
    output?: { image?: string | null };
    revision?: { commit?: string };
    env?: { name: string; value?: string }[];
    triggeredBy?: BuildCause[];
  };
  status?: {
    phase?: string;
    reason?: string | null;
    message?: string | null;
    logSnippet?: string | null;
    startTimestamp?: string | null;
    completionTimestamp?: string | null;
    durationMs?: number | null;
    output?: { image?: string; digest?: string; imageReference?: string } | null;
  };
}

interface ImageStreamTagEvent {
  created?: string;
  dockerImageReference?: string;
  image?: string;
  generation?: number;
  /** Kiln: why the tag moved (`Build`, `RegistryPush`, `Import`, `Tag`) and which build pushed it. */
  cause?: string;
  build?: string;
}

export interface ImageStream {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: { tags?: { name: string; from?: WireImageRef }[] };
  status?: {
    dockerImageRepository?: string;
    publicDockerImageRepository?: string;
    tags?: { tag: string; items?: ImageStreamTagEvent[] }[];
  };
}

/**
 * A Secret as the API shows it: never its values. `data` has its keys with every value
 * `(redacted)`; a docker config Secret also lists the registries it is for.
 */
export interface Secret {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  type?: string;
  data?: Record<string, string>;
  registries?: string[];
}

/** An ImageStreamGrant: which other namespace's BuildConfigs may pull from or push to this one's ImageStreams. */
export interface ImageStreamGrant {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: { grantee?: { namespace?: string }; access?: string[]; imageStreams?: string[] };
}

/** A BuilderTemplate: a builder image per framework, and the files that select it (`kiln new-build`). */
export interface BuilderTemplate {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: {
    description?: string;
    codeFramework?: string;
    versions?: {
      name: string;
      builderImage?: WireImageRef;
      runtimeImage?: WireImageRef;
      runtimeArtifacts?: { sourcePath: string; destinationDir?: string }[];
    }[];
    defaultVersion?: string;
    env?: { name: string; value?: string }[];
    detect?: { files?: string[] };
  };
}

/** An API token as listed: its roles, never its secret (`token` is only in the answer to its creation). */
export interface Token {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  roles?: { namespace: string; role: string }[];
  createdBy?: string;
  token?: string;
}

/** What `POST /apis/v1/apply` says about each item. */
export interface ApplyResult {
  kind: string;
  namespace: string;
  name: string;
  resourceVersion?: string;
  action: "created" | "configured" | "unchanged";
}

/** Phases after which a build never changes again (same list as @kiln/domain's isTerminalPhase). */
export const terminalPhases: ReadonlySet<string> = new Set([
  "Complete",
  "Failed",
  "Error",
  "Cancelled",
]);

/** `build.kiln.dev/hello-1`, the `-o name` form, like `oc`'s `build.build.openshift.io/hello-1`. */
export function qualifiedName(kind: string, name: string): string {
  return `${kind.toLowerCase()}.kiln.dev/${name}`;
}

/** A deploy: one image change rolled out to a workload or an HTTP target (made by the deployer, read-only). */
export interface Deploy {
  apiVersion?: string;
  kind?: string;
  metadata: WireMeta;
  spec?: {
    target?: {
      type?: "Kubernetes" | "HTTP";
      kind?: string;
      namespace?: string;
      name?: string;
      containers?: string[];
      url?: string;
    };
    imageStreamTag?: string;
    digest?: string;
    imageReference?: string;
    cause?: { type?: string; build?: string; message?: string };
  };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    previousImage?: string;
    attempts?: number;
    startTimestamp?: string;
    completionTimestamp?: string;
  };
}

/** A git webhook delivery as `GET …/webhookdeliveries` returns it (`kiln events`). */
export interface WebhookDelivery {
  id: string;
  provider: string;
  deliveryId: string | null;
  namespace: string;
  buildConfig: string;
  receivedAt: string;
  outcome: "build-requested" | "skipped" | "rejected";
  reason: string | null;
  message: string | null;
  requestId: string | null;
  commit: string | null;
  ref: string | null;
  /** `NAME-N` once the scheduler made the build. */
  build: string | null;
}
