/**
 * A STAND-IN for the Kubernetes API server, for tests. It is NOT Kubernetes.
 *
 * No Kubernetes cluster can be had on Kiln's build machines, so code written against
 * @kubernetes/client-node is tested against this: a real HTTP server on 127.0.0.1 that serves
 * the few endpoints Kiln uses, the way the real API server does (paths, status codes, `Status`
 * bodies, resourceVersion semantics, patch formats, watch streams). The real client talks HTTP
 * to it; nothing in the client is mocked. "The kubelet and the controllers are the test": no
 * pod ever runs; a test reacts to what the code under test wrote (`onCreate`), writes status and
 * pod logs itself, or turns on the small rollout controller in ./controllers.ts.
 *
 * Implemented (see ./README.md for the details):
 * - apps/v1 deployments, statefulsets, daemonsets; batch/v1 cronjobs, jobs; core/v1 pods,
 *   pods/log, secrets, configmaps; namespaced, and listed/watched across all namespaces;
 *   the `/status` subresource of the workload kinds and pods; discovery (`/api`, `/apis`, …).
 * - GET, LIST (labelSelector; fieldSelector on metadata.name, metadata.namespace and a few
 *   per-kind fields), CREATE (201; 409 AlreadyExists; generateName), PUT (409 Conflict on a stale
 *   metadata.resourceVersion), DELETE (propagationPolicy; preconditions; a Job's pods go with it
 *   unless orphaned, and a batch/v1 Job orphans them by default, as the real server does), PATCH
 *   (json-patch, merge-patch, strategic-merge-patch; 422 Invalid when a patch cannot apply, e.g. a
 *   failed `test`; 409 when the patched object carries a stale resourceVersion).
 * - one global, monotonically increasing resourceVersion; uid; creationTimestamp; generation
 *   bumped on spec changes; status kept on main-resource writes; a no-op write changes nothing
 *   (no new resourceVersion, no watch event), like the real server.
 * - WATCH: newline-delimited ADDED/MODIFIED/DELETED/BOOKMARK events, replay from a kept
 *   resourceVersion, ERROR 410 Expired for a compacted one, selector transitions (an object
 *   leaving a label selector is DELETED for that watch), timeoutSeconds.
 * - pods/log: container, follow, timestamps, tailLines, sinceSeconds/sinceTime, limitBytes.
 * - bearer-token authentication (optional).
 *
 * Not implemented: every other resource and subresource (scale, exec, attach, eviction, …),
 * server-side apply, namespaces as objects (any namespace exists), admission and schema
 * validation, most defaulting, finalizers and graceful deletion (a delete is immediate),
 * list pagination (limit/continue), resourceVersionMatch, dryRun, managedFields, protobuf,
 * CBOR, TLS, RBAC, deletecollection, field selectors beyond those listed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { StandInRbac, type ResourceAttributes, type UserInfo } from "./rbac.js";
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  jsonEqual,
  PatchApplyError,
} from "./patch.js";
import {
  apiVersionOf,
  resourceByKind,
  resourceByPath,
  resources,
  type KubeObject,
  type ResourceDef,
} from "./resources.js";
import {
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  type Matcher,
} from "./selectors.js";
import {
  KubeApiError,
  reasonForCode,
  statusErrors,
  successStatus,
  type StatusReason,
} from "./status.js";

export type StandInApiServerOptions = {
  /** Bearer token every request must carry (401 Unauthorized otherwise). None: no authentication. */
  token?: string;
  /**
   * More tokens the server takes, each a user (as the real server's `--token-auth-file`); the
   * `token` above is `kubernetes-admin` in `system:masters`. TokenReviews review these.
   */
  users?: readonly ({ token: string } & UserInfo)[];
  /**
   * Authorize every request by RBAC (see rbac.ts; objects put in with `rbac.apply`), and answer
   * SubjectAccessReviews by it. Off: every authenticated request is allowed. @default false
   */
  rbac?: boolean;
  /** Port on 127.0.0.1. @default 0 (a free one) */
  port?: number;
  /**
   * Watch events kept for watches that start from an older resourceVersion; older ones are
   * compacted away automatically (and `compact()` drops them all). @default 10000
   */
  historyLimit?: number;
};

/** One request the server received, for assertions (`requests`) and timings. */
export type RecordedRequest = {
  method: string;
  /** URL path without the query. */
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** Parsed JSON body (or the raw text when it is not JSON), if any. */
  body: unknown;
  /** Status code answered (200 for a watch or a followed log: sent before streaming). */
  status?: number;
  /** When the request arrived: epoch milliseconds, fractional (`performance.timeOrigin + performance.now()`). */
  receivedAt: number;
};

/** Answer the next `times` requests matching `method` and `path` with an error Status. */
export type Fault = {
  /** HTTP method; any when omitted. */
  method?: string;
  /** Exact URL path (no query), or a pattern tested against it. */
  path: string | RegExp;
  /** HTTP status code, e.g. 409, 500. */
  status: number;
  /** Status reason; defaults to the real server's for the code (409 → Conflict). */
  reason?: StatusReason;
  message?: string;
  /** @default 1 */
  times?: number;
};

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** Whether the code under test (through HTTP) or the test itself made a change. */
export type ChangeSource = "api" | "test";
export type ObjectHook = (object: KubeObject, source: ChangeSource) => void | Promise<void>;

type HistoryEntry = {
  rv: number;
  type: WatchEventType;
  def: ResourceDef;
  object: KubeObject;
  previous?: KubeObject;
};

type Watcher = {
  def: ResourceDef;
  namespace: string | undefined;
  label: Matcher;
  field: Matcher;
  bookmarks: boolean;
  res: ServerResponse;
};

type LogLine = { at: Date; text: string };
type LogFollower = { res: ServerResponse; timestamps: boolean; remainingBytes: number };
type PodLog = { lines: LogLine[]; ended: boolean; followers: Set<LogFollower> };

type HookKind = "create" | "update" | "delete";

type Route =
  | { type: "discovery"; body: unknown }
  | { type: "collection"; def: ResourceDef; namespace: string | undefined }
  | {
      type: "item";
      def: ResourceDef;
      namespace: string;
      name: string;
      sub: undefined | "status" | "log";
    };

const bodyLimitBytes = 10 * 1024 * 1024;

/** The review endpoints, and what a caller needs to post to them (`system:auth-delegator` has both). */
const reviewKinds: Record<
  string,
  { kind: "TokenReview" | "SubjectAccessReview"; attributes: ResourceAttributes }
> = {
  "/apis/authentication.k8s.io/v1/tokenreviews": {
    kind: "TokenReview",
    attributes: { verb: "create", group: "authentication.k8s.io", resource: "tokenreviews" },
  },
  "/apis/authorization.k8s.io/v1/subjectaccessreviews": {
    kind: "SubjectAccessReview",
    attributes: { verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews" },
  },
};
const clone = <T>(value: T): T => structuredClone(value);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 3339 with nine fraction digits, as the kubelet writes log timestamps. */
function rfc3339Nano(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}
/** RFC 3339 to the second, as metadata timestamps are. */
function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The stand-in Kubernetes API server (read the module comment: it is not Kubernetes).
 *
 * ```ts
 * await using kube = await StandInApiServer.start();
 * const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
 * kube.onCreate("Job", (job) => kube.create(podFromJob(job)));
 * ```
 */
export class StandInApiServer {
  /** Every request received since the last `clearRequests()`, oldest first. */
  readonly requests: RecordedRequest[] = [];

  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly objects = new Map<string, KubeObject>();
  private history: HistoryEntry[] = [];
  private rv: number;
  /** A watch may start at any resourceVersion >= this; older ones get 410 Expired. */
  private compactedRv: number;
  private readonly watchers = new Set<Watcher>();
  private readonly logs = new Map<string, PodLog>();
  private readonly faults: (Fault & { remaining: number })[] = [];
  private readonly hooks: { kind: HookKind; def: ResourceDef; handler: ObjectHook }[] = [];
  private readonly requestListeners = new Set<(request: RecordedRequest) => void>();
  /** Errors thrown by hooks: a failing hook must not go unnoticed, so tests can assert it is empty. */
  readonly hookErrors: unknown[] = [];
  private readonly token: string | undefined;
  private readonly historyLimit: number;
  /** The tokens and RBAC objects requests are decided by; `rbac.apply(role)` adds to them. */
  readonly rbac: StandInRbac;
  private readonly authenticating: boolean;
  private readonly authorizing: boolean;

  private constructor(options: StandInApiServerOptions) {
    this.token = options.token;
    const users = new Map<string, UserInfo>(
      (options.users ?? []).map(({ token, ...user }) => [token, user]),
    );
    if (options.token !== undefined)
      users.set(options.token, { username: "kubernetes-admin", groups: ["system:masters"] });
    this.rbac = new StandInRbac(users);
    this.authenticating = users.size > 0;
    this.authorizing = options.rbac ?? false;
    this.historyLimit = options.historyLimit ?? 10_000;
    // Real resourceVersions are etcd revisions, never small: start high so no code can confuse
    // them with counts, and so "0" (any version) stays distinct.
    this.rv = 1000 + Math.floor(Math.random() * 1000);
    this.compactedRv = this.rv;
  }

  /** Starts a server on 127.0.0.1 (a free port unless `port` is given). */
  static async start(options: StandInApiServerOptions = {}): Promise<StandInApiServer> {
    const api = new StandInApiServer(options);
    await api.listen(options.port ?? 0);
    return api;
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("the stand-in API server is not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  /** The newest resourceVersion (the last write's). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Ends every watch and log stream, then closes the server. */
  async stop(): Promise<void> {
    if (!this.server) return;
    this.dropWatches();
    for (const log of this.logs.values()) for (const f of log.followers) f.res.end();
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ------------------------------------------------------------------------------------------
  // Client configuration

  /**
   * A KubeConfig for @kubernetes/client-node that points at this server (plain HTTP), as the
   * `token` option's user unless another of `users`' tokens is given.
   */
  kubeConfig(namespace = "default", token = this.token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "stand-in", server: this.url, skipTLSVerify: true }],
      users: [{ name: "stand-in", ...(token === undefined ? {} : { token }) }],
      contexts: [{ name: "stand-in", cluster: "stand-in", user: "stand-in", namespace }],
      currentContext: "stand-in",
    });
    return kc;
  }

  /** The same configuration as a kubeconfig file's content (JSON, which is YAML), for a `KUBECONFIG` path. */
  kubeconfigYaml(namespace = "default", token = this.token): string {
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "stand-in", cluster: { server: this.url, "insecure-skip-tls-verify": true } },
      ],
      users: [{ name: "stand-in", user: token === undefined ? {} : { token } }],
      contexts: [
        { name: "stand-in", context: { cluster: "stand-in", user: "stand-in", namespace } },
      ],
      "current-context": "stand-in",
    });
  }

  /** Writes `kubeconfigYaml()` to `path` (mode 0600) and returns the path. */
  async writeKubeconfig(path: string, namespace = "default", token = this.token): Promise<string> {
    await writeFile(path, this.kubeconfigYaml(namespace, token), { mode: 0o600 });
    return path;
  }

  // ------------------------------------------------------------------------------------------
  // Test-side access to the store. Writes go through the same path as API writes: they get a
  // resourceVersion, notify watchers and run hooks.

  /** Creates an object (`apiVersion`/`kind` pick the resource). Throws KubeApiError 409 AlreadyExists. */
  create<T extends object = KubeObject>(object: T): T {
    const o = object as unknown as KubeObject;
    const def = this.defOf(o);
    return this.createObject(
      def,
      clone(o),
      o.metadata?.namespace ?? "default",
      "test",
    ) as unknown as T;
  }

  /** Creates the object, or replaces the stored one (keeping uid and creationTimestamp; status as given). */
  apply<T extends object = KubeObject>(object: T): T {
    const o = object as unknown as KubeObject;
    const def = this.defOf(o);
    const namespace = o.metadata?.namespace ?? "default";
    const name = o.metadata?.name;
    if (!name || !this.objects.has(this.key(def, namespace, name))) return this.create(object);
    return this.replaceObject(def, namespace, name, clone(o), "all", "test") as unknown as T;
  }

  /** A copy of the stored object, or undefined. `kind` is a kind or a plural (`Deployment`, `pods`). */
  get<T = KubeObject>(kind: string, namespace: string, name: string): T | undefined {
    const stored = this.objects.get(this.key(resourceByKind(kind), namespace, name));
    return stored ? (clone(stored) as T) : undefined;
  }

  /** Copies of the stored objects of a kind, in one namespace or all, oldest resourceVersion first. */
  list<T = KubeObject>(kind: string, namespace?: string): T[] {
    const def = resourceByKind(kind);
    return this.stored(def, namespace).map((o) => clone(o) as T);
  }

  /**
   * Changes a stored object: `mutate` gets a copy and edits it (or returns a new one). Status
   * included: the test is the controller. Throws KubeApiError 404 when there is none.
   */
  update<T = KubeObject>(
    kind: string,
    namespace: string,
    name: string,
    mutate: (object: T) => T | void,
  ): T {
    const def = resourceByKind(kind);
    const stored = this.objects.get(this.key(def, namespace, name));
    if (!stored) throw statusErrors.notFound(def, name);
    const draft = clone(stored) as T;
    const next = mutate(draft) ?? draft;
    return this.replaceObject(def, namespace, name, next as KubeObject, "all", "test") as T;
  }

  /** Deletes an object (and its dependents unless orphaned). Throws KubeApiError 404. */
  delete(
    kind: string,
    namespace: string,
    name: string,
    options: { propagationPolicy?: "Orphan" | "Background" | "Foreground" } = {},
  ): KubeObject {
    const def = resourceByKind(kind);
    return this.deleteObject(
      def,
      namespace,
      name,
      options.propagationPolicy ?? def.defaultPropagation,
      "test",
    );
  }

  /** Runs `handler` after an object of `kind` is created (through the API or by the test). Returns an unsubscribe. */
  onCreate(kind: string, handler: ObjectHook): () => void {
    return this.addHook("create", kind, handler);
  }

  /** Runs `handler` after an object of `kind` changes. Returns an unsubscribe. */
  onUpdate(kind: string, handler: ObjectHook): () => void {
    return this.addHook("update", kind, handler);
  }

  /** Runs `handler` after an object of `kind` is deleted (with the object as it was). Returns an unsubscribe. */
  onDelete(kind: string, handler: ObjectHook): () => void {
    return this.addHook("delete", kind, handler);
  }

  // ------------------------------------------------------------------------------------------
  // Test-side control of watches, logs, faults and the request log

  /** Sends a BOOKMARK (the current resourceVersion) to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      this.write(w.res, {
        type: "BOOKMARK",
        object: {
          kind: w.def.kind,
          apiVersion: apiVersionOf(w.def),
          metadata: { resourceVersion: String(this.rv) },
        },
      });
    }
  }

  /**
   * Forgets every watch event so far, as an etcd compaction does: a watch from any older
   * resourceVersion then gets ERROR 410 Expired. Open watches go on.
   */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /** Closes every open watch stream (as an API server restart or a load balancer would). */
  dropWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.res.end();
    }
  }

  /** Open watches, of one kind or all. */
  watchCount(kind?: string): number {
    const def = kind === undefined ? undefined : resourceByKind(kind);
    return [...this.watchers].filter((w) => def === undefined || w.def === def).length;
  }

  /** Appends lines to a container's log (followers get them at once). `at` defaults to now. */
  appendPodLog(
    namespace: string,
    pod: string,
    container: string,
    lines: string | readonly string[],
    at?: Date,
  ): void {
    const log = this.podLog(namespace, pod, container);
    if (log.ended) throw new Error(`the log of ${namespace}/${pod}/${container} has ended`);
    for (const text of typeof lines === "string" ? [lines] : lines) {
      const line = { at: at ?? new Date(), text };
      log.lines.push(line);
      for (const f of log.followers) this.writeLogLine(f, line);
    }
  }

  /** The container terminated: its log ends, and so does every `follow` stream of it. */
  endPodLog(namespace: string, pod: string, container: string): void {
    const log = this.podLog(namespace, pod, container);
    log.ended = true;
    for (const f of log.followers) f.res.end();
    log.followers.clear();
  }

  /**
   * Closes a container's `follow` streams while the container still runs, as the real server
   * does on its request timeouts (or a kubelet restart): the log goes on, clients must reopen.
   */
  dropPodLogStreams(namespace: string, pod: string, container: string): void {
    const log = this.podLog(namespace, pod, container);
    for (const f of log.followers) f.res.end();
    log.followers.clear();
  }

  /** Answers the next matching request(s) with an error Status instead of serving them. */
  failNext(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /** Calls `listener` with every request as it arrives. Returns an unsubscribe. */
  onRequest(listener: (request: RecordedRequest) => void): () => void {
    this.requestListeners.add(listener);
    return () => this.requestListeners.delete(listener);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ------------------------------------------------------------------------------------------
  // Store internals

  private key(def: ResourceDef, namespace: string, name: string): string {
    return `${def.plural}.${def.group}/${namespace}/${name}`;
  }

  private defOf(object: KubeObject): ResourceDef {
    if (!object.kind) throw new Error("the object needs a kind");
    const def = resourceByKind(object.kind);
    if (object.apiVersion !== undefined && object.apiVersion !== apiVersionOf(def)) {
      throw new Error(`${object.kind} is served as ${apiVersionOf(def)}, not ${object.apiVersion}`);
    }
    return def;
  }

  private stored(def: ResourceDef, namespace: string | undefined): KubeObject[] {
    const prefix =
      namespace === undefined
        ? `${def.plural}.${def.group}/`
        : `${def.plural}.${def.group}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, o]) => o)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  }

  private addHook(kind: HookKind, resourceKind: string, handler: ObjectHook): () => void {
    const hook = { kind, def: resourceByKind(resourceKind), handler };
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  private runHooks(
    kind: HookKind,
    def: ResourceDef,
    object: KubeObject,
    source: ChangeSource,
  ): void {
    for (const hook of this.hooks) {
      if (hook.kind !== kind || hook.def !== def) continue;
      // After the current request is answered, as a controller would see it: asynchronously.
      setImmediate(() => {
        Promise.resolve()
          .then(() => hook.handler(clone(object), source))
          .catch((error: unknown) => {
            this.hookErrors.push(error);
            console.error("stand-in API server: a test hook failed", error);
          });
      });
    }
  }

  /** Stores a write, gives it the next resourceVersion, tells watchers and hooks. */
  private commit(
    type: WatchEventType,
    def: ResourceDef,
    object: KubeObject,
    previous: KubeObject | undefined,
    source: ChangeSource,
  ): KubeObject {
    this.rv += 1;
    object.metadata.resourceVersion = String(this.rv);
    const namespace = object.metadata.namespace ?? "";
    const name = object.metadata.name ?? "";
    if (type === "DELETED") this.objects.delete(this.key(def, namespace, name));
    else this.objects.set(this.key(def, namespace, name), object);
    const entry: HistoryEntry = {
      rv: this.rv,
      type,
      def,
      object: clone(object),
      ...(previous ? { previous } : {}),
    };
    this.history.push(entry);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const w of this.watchers) this.deliver(w, entry);
    this.runHooks(
      type === "ADDED" ? "create" : type === "MODIFIED" ? "update" : "delete",
      def,
      object,
      source,
    );
    if (type === "DELETED" && def.kind === "Pod") this.endLogsOf(namespace, name);
    return clone(object);
  }

  /** Light defaulting, as the real server's for the fields Kiln reads. */
  private applyDefaults(def: ResourceDef, object: KubeObject): void {
    const spec = isObject(object.spec) ? object.spec : undefined;
    if (!spec) return;
    if ((def.kind === "Deployment" || def.kind === "StatefulSet") && spec.replicas === undefined)
      spec.replicas = 1;
    if (def.kind === "Deployment" && spec.progressDeadlineSeconds === undefined)
      spec.progressDeadlineSeconds = 600;
    if (def.kind === "Job") {
      spec.backoffLimit ??= 6;
      spec.completions ??= 1;
      spec.parallelism ??= 1;
    }
  }

  private createObject(
    def: ResourceDef,
    object: KubeObject,
    namespace: string,
    source: ChangeSource,
  ): KubeObject {
    if (!isObject(object) || !isObject(object.metadata))
      throw statusErrors.badRequest("the object has no metadata");
    if (object.kind !== undefined && object.kind !== def.kind)
      throw statusErrors.badRequest(
        `the kind ${String(object.kind)} does not match the resource ${def.plural}`,
      );
    if (
      object.metadata.namespace !== undefined &&
      object.metadata.namespace !== "" &&
      object.metadata.namespace !== namespace
    ) {
      throw statusErrors.badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    let name = object.metadata.name;
    if (!name && object.metadata.generateName)
      name = `${object.metadata.generateName}${randomSuffix()}`;
    if (!name)
      throw statusErrors.invalid(
        `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
      );
    if (this.objects.has(this.key(def, namespace, name)))
      throw statusErrors.alreadyExists(def, name);
    object.apiVersion = apiVersionOf(def);
    object.kind = def.kind;
    const { resourceVersion: _ignored, ...metadata } = object.metadata;
    object.metadata = {
      ...metadata,
      name,
      namespace,
      uid: randomUUID(),
      creationTimestamp: rfc3339(new Date()),
    };
    if (def.generation) object.metadata.generation = 1;
    else delete object.metadata.generation;
    if (source === "api" && def.statusSubresource)
      object.status = def.kind === "Pod" ? { phase: "Pending" } : {};
    this.applyDefaults(def, object);
    return this.commit("ADDED", def, object, undefined, source);
  }

  /**
   * Replaces a stored object. `part`: "main" keeps the stored status of a kind with a status
   * subresource (a write to the resource itself), "status" changes only the status (a write to
   * `/status`), "all" takes both (the test writing as a controller would).
   */
  private replaceObject(
    def: ResourceDef,
    namespace: string,
    name: string,
    incoming: KubeObject,
    part: "main" | "status" | "all",
    source: ChangeSource,
  ): KubeObject {
    const key = this.key(def, namespace, name);
    const old = this.objects.get(key);
    if (!old) throw statusErrors.notFound(def, name);
    if (!isObject(incoming) || !isObject(incoming.metadata))
      throw statusErrors.badRequest("the object has no metadata");
    const precondition = incoming.metadata.resourceVersion;
    if (
      precondition !== undefined &&
      precondition !== "" &&
      precondition !== old.metadata.resourceVersion
    )
      throw statusErrors.conflict(def, name);
    let next: KubeObject;
    if (part === "status") {
      next = { ...clone(old), status: clone(incoming.status) };
      if (incoming.status === undefined) delete next.status;
    } else {
      next = clone(incoming);
      if (part === "main" && def.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    next.apiVersion = apiVersionOf(def);
    next.kind = def.kind;
    next.metadata = {
      ...next.metadata,
      name,
      namespace,
      uid: old.metadata.uid!,
      creationTimestamp: old.metadata.creationTimestamp!,
      resourceVersion: old.metadata.resourceVersion!,
    };
    if (def.generation)
      next.metadata.generation =
        (old.metadata.generation ?? 1) + (jsonEqual(old.spec, next.spec) ? 0 : 1);
    else delete next.metadata.generation;
    this.applyDefaults(def, next);
    // A write that changes nothing is a no-op on the real server: no new resourceVersion, no event.
    if (jsonEqual(old, next)) return clone(old);
    return this.commit("MODIFIED", def, next, clone(old), source);
  }

  private deleteObject(
    def: ResourceDef,
    namespace: string,
    name: string,
    propagation: "Orphan" | "Background" | "Foreground",
    source: ChangeSource,
    preconditions?: { uid?: string; resourceVersion?: string },
  ): KubeObject {
    const old = this.objects.get(this.key(def, namespace, name));
    if (!old) throw statusErrors.notFound(def, name);
    if (preconditions?.uid && preconditions.uid !== old.metadata.uid) {
      throw statusErrors.conflict(
        def,
        name,
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (
      preconditions?.resourceVersion &&
      preconditions.resourceVersion !== old.metadata.resourceVersion
    ) {
      throw statusErrors.conflict(
        def,
        name,
        `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    const deleted = this.commit("DELETED", def, clone(old), undefined, source);
    const uid = old.metadata.uid;
    // The garbage collector: dependents by ownerReference, and a Job's pods by its job-name label.
    for (const depDef of resources) {
      for (const dep of this.stored(depDef, namespace)) {
        const owned = dep.metadata.ownerReferences?.some((r) => r.uid === uid) ?? false;
        const labels = dep.metadata.labels ?? {};
        const jobPod =
          def.kind === "Job" &&
          depDef.kind === "Pod" &&
          (labels["job-name"] === name || labels["batch.kubernetes.io/job-name"] === name);
        if (!owned && !jobPod) continue;
        const depName = dep.metadata.name!;
        if (propagation === "Orphan") {
          if (owned)
            this.replaceObject(
              depDef,
              namespace,
              depName,
              {
                ...clone(dep),
                metadata: {
                  ...clone(dep.metadata),
                  ownerReferences: dep.metadata.ownerReferences!.filter((r) => r.uid !== uid),
                },
              },
              "all",
              source,
            );
        } else if (this.objects.has(this.key(depDef, namespace, depName))) {
          this.deleteObject(depDef, namespace, depName, propagation, source);
        }
      }
    }
    return deleted;
  }

  private deliver(w: Watcher, entry: HistoryEntry): void {
    if (entry.def !== w.def) return;
    if (w.namespace !== undefined && entry.object.metadata.namespace !== w.namespace) return;
    const matches = (o: KubeObject) => w.label(o) && w.field(o);
    const now = matches(entry.object);
    let type: WatchEventType | undefined;
    if (entry.type === "MODIFIED") {
      const before = entry.previous ? matches(entry.previous) : false;
      if (now && before) type = "MODIFIED";
      else if (now) type = "ADDED";
      else if (before) type = "DELETED";
    } else if (now) {
      type = entry.type;
    }
    if (type) this.write(w.res, { type, object: entry.object });
  }

  private write(res: ServerResponse, event: unknown): void {
    if (!res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
  }

  private podLog(namespace: string, pod: string, container: string): PodLog {
    const key = `${namespace}/${pod}/${container}`;
    let log = this.logs.get(key);
    if (!log) {
      log = { lines: [], ended: false, followers: new Set() };
      this.logs.set(key, log);
    }
    return log;
  }

  private endLogsOf(namespace: string, pod: string): void {
    for (const [key, log] of this.logs) {
      if (!key.startsWith(`${namespace}/${pod}/`)) continue;
      for (const f of log.followers) f.res.end();
      this.logs.delete(key);
    }
  }

  private writeLogLine(f: LogFollower, line: LogLine): void {
    if (f.res.writableEnded || f.remainingBytes <= 0) return;
    let text = `${f.timestamps ? `${rfc3339Nano(line.at)} ` : ""}${line.text}\n`;
    if (Buffer.byteLength(text) > f.remainingBytes)
      text = Buffer.from(text).subarray(0, f.remainingBytes).toString();
    f.remainingBytes -= Buffer.byteLength(text);
    f.res.write(text);
    if (f.remainingBytes <= 0) f.res.end();
  }

  // ------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const contentType = req.headers["content-type"]?.split(";")[0]?.trim();
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body: undefined,
      receivedAt: performance.timeOrigin + performance.now(),
    };
    this.requests.push(record);
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        const text = raw.toString("utf8");
        try {
          record.body = JSON.parse(text);
        } catch {
          record.body = text;
        }
      }
      for (const listener of this.requestListeners) listener(record);
      const user = this.authenticated(req);
      if (this.authenticating && !user) throw statusErrors.unauthorized();
      const fault = this.takeFault(record.method, url.pathname);
      if (fault)
        throw new KubeApiError(
          fault.status,
          fault.reason ?? reasonForCode(fault.status),
          fault.message ?? `injected fault: ${fault.status}`,
        );
      const review = reviewKinds[url.pathname];
      if (review) {
        if (user && this.authorizing) this.authorizeAttributes(user, review.attributes, undefined);
        sendJson(res, 201, this.review(review.kind, record.body));
      } else {
        if (user && this.authorizing) this.authorizeRequest(user, record.method, url);
        await this.route(req, res, url, record, raw);
      }
    } catch (error) {
      const apiError =
        error instanceof KubeApiError
          ? error
          : error instanceof PatchApplyError
            ? statusErrors.invalid(error.message)
            : error instanceof SelectorError
              ? statusErrors.badRequest(error.message)
              : new KubeApiError(
                  500,
                  "InternalError",
                  `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`,
                );
      if (!res.headersSent) sendJson(res, apiError.code, apiError.toStatus());
      else res.end();
    }
    record.status = res.statusCode;
  }

  /** The user the request's bearer token is, if any. */
  private authenticated(req: IncomingMessage): UserInfo | undefined {
    const header = req.headers.authorization;
    return header?.startsWith("Bearer ")
      ? this.rbac.authenticate(header.slice("Bearer ".length))
      : undefined;
  }

  /** Throws 403 Forbidden, worded as the real server words it, unless RBAC allows the request. */
  private authorizeRequest(user: UserInfo, method: string, url: URL): void {
    const route = this.parseRoute(url.pathname);
    if (!route || route.type === "discovery") return;
    const watch = url.searchParams.get("watch");
    const verb =
      route.type === "collection"
        ? {
            GET: watch === "true" || watch === "1" ? "watch" : "list",
            POST: "create",
            DELETE: "deletecollection",
          }[method]
        : { GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete" }[method];
    if (!verb) return;
    this.authorizeAttributes(
      user,
      {
        verb,
        group: route.def.group,
        resource: route.def.plural,
        ...(route.type === "item" && route.sub ? { subresource: route.sub } : {}),
        ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
        ...(route.type === "item" ? { name: route.name } : {}),
      },
      route.type === "item" ? route.name : undefined,
    );
  }

  private authorizeAttributes(user: UserInfo, a: ResourceAttributes, name: string | undefined) {
    if (this.rbac.authorize(user, a).allowed) return;
    const resource = `${a.resource}${a.subresource ? `/${a.subresource}` : ""}`;
    const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
    const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
    throw statusErrors.forbidden(
      `${qualified}${name ? ` "${name}"` : ""} is forbidden: User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group ?? ""}" ${scope}`,
    );
  }

  /** A TokenReview or SubjectAccessReview, answered from the tokens and RBAC objects. */
  private review(kind: "TokenReview" | "SubjectAccessReview", body: unknown): KubeObject {
    const spec = (isObject(body) && isObject(body.spec) ? body.spec : {}) as Record<
      string,
      unknown
    >;
    const apiVersion =
      kind === "TokenReview" ? "authentication.k8s.io/v1" : "authorization.k8s.io/v1";
    const answer = (status: unknown) => ({
      kind,
      apiVersion,
      metadata: { creationTimestamp: null as unknown as string },
      spec,
      status,
    });
    if (kind === "TokenReview") {
      if (typeof spec.token !== "string" || spec.token === "")
        throw statusErrors.invalid(
          'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value',
        );
      const user = this.rbac.authenticate(spec.token);
      return answer(
        user
          ? { authenticated: true, user }
          : { user: {}, error: "[invalid bearer token, token lookup failed]" },
      );
    }
    const attributes = spec.resourceAttributes as ResourceAttributes | undefined;
    const username = typeof spec.user === "string" ? spec.user : "";
    const groups = Array.isArray(spec.groups) ? (spec.groups as string[]) : [];
    if (!username && groups.length === 0)
      throw statusErrors.invalid(
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
      );
    if (!attributes || typeof attributes.verb !== "string")
      throw statusErrors.invalid(
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
      );
    const decision = this.rbac.authorize({ username, groups }, attributes);
    return answer(decision.allowed ? decision : { allowed: false });
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const index = this.faults.findIndex(
      (f) =>
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (typeof f.path === "string" ? f.path === path : f.path.test(path)),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private parseRoute(path: string): Route | undefined {
    const parts = path
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    if (parts.length === 1 && parts[0] === "api") {
      return {
        type: "discovery",
        body: {
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }],
        },
      };
    }
    if (parts.length === 1 && parts[0] === "apis") {
      const groups = ["apps", "batch"].map((name) => ({
        name,
        versions: [{ groupVersion: `${name}/v1`, version: "v1" }],
        preferredVersion: { groupVersion: `${name}/v1`, version: "v1" },
      }));
      return { type: "discovery", body: { kind: "APIGroupList", apiVersion: "v1", groups } };
    }
    if (parts.length === 1 && parts[0] === "version") {
      return {
        type: "discovery",
        body: {
          major: "1",
          minor: "33",
          gitVersion: "v1.33.0+kiln-stand-in",
          platform: "linux/amd64",
        },
      };
    }
    let group: string;
    let rest: string[];
    if (parts[0] === "api" && parts[1] === "v1") {
      group = "";
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts.length >= 3) {
      group = parts[1]!;
      rest = parts.slice(3);
    } else {
      return undefined;
    }
    const version = group === "" ? parts[1]! : parts[2]!;
    if (rest.length === 0) {
      const served = resources.filter((r) => r.group === group && r.version === version);
      if (served.length === 0) return undefined;
      const list = served.flatMap((r) => [
        {
          name: r.plural,
          singularName: r.kind.toLowerCase(),
          namespaced: true,
          kind: r.kind,
          verbs: r.verbs,
          shortNames: r.shortNames,
        },
        ...(r.statusSubresource
          ? [
              {
                name: `${r.plural}/status`,
                singularName: "",
                namespaced: true,
                kind: r.kind,
                verbs: ["get", "patch", "update"],
              },
            ]
          : []),
        ...(r.kind === "Pod"
          ? [{ name: "pods/log", singularName: "", namespaced: true, kind: "Pod", verbs: ["get"] }]
          : []),
      ]);
      return {
        type: "discovery",
        body: {
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: group === "" ? version : `${group}/${version}`,
          resources: list,
        },
      };
    }
    if (rest.length === 1) {
      const def = resourceByPath(group, version, rest[0]!);
      return def ? { type: "collection", def, namespace: undefined } : undefined;
    }
    if (rest[0] !== "namespaces" || rest.length < 3) return undefined;
    const namespace = rest[1]!;
    const def = resourceByPath(group, version, rest[2]!);
    if (!def) return undefined;
    if (rest.length === 3) return { type: "collection", def, namespace };
    const name = rest[3]!;
    if (rest.length === 4) return { type: "item", def, namespace, name, sub: undefined };
    const sub = rest[4];
    if (rest.length === 5 && sub === "status" && def.statusSubresource)
      return { type: "item", def, namespace, name, sub };
    if (rest.length === 5 && sub === "log" && def.kind === "Pod")
      return { type: "item", def, namespace, name, sub };
    return undefined;
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: RecordedRequest,
    raw: Buffer,
  ): Promise<void> {
    const route = this.parseRoute(url.pathname);
    if (!route) throw statusErrors.routeNotFound();
    const method = record.method;
    const q = url.searchParams;
    if (route.type === "discovery") {
      if (method !== "GET") throw statusErrors.methodNotAllowed(method);
      sendJson(res, 200, route.body);
      return;
    }
    if (route.type === "collection") {
      const { def, namespace } = route;
      if (method === "GET") {
        if (q.get("watch") === "true" || q.get("watch") === "1")
          this.serveWatch(req, res, def, namespace, q);
        else this.serveList(res, def, namespace, q);
        return;
      }
      if (method === "POST" && namespace !== undefined) {
        const created = this.createObject(def, this.objectBody(record, raw), namespace, "api");
        sendJson(res, 201, created);
        return;
      }
      throw statusErrors.methodNotAllowed(method);
    }
    const { def, namespace, name, sub } = route;
    if (sub === "log") {
      if (method !== "GET") throw statusErrors.methodNotAllowed(method);
      this.serveLog(req, res, namespace, name, q);
      return;
    }
    switch (method) {
      case "GET": {
        const stored = this.objects.get(this.key(def, namespace, name));
        if (!stored) throw statusErrors.notFound(def, name);
        sendJson(res, 200, stored);
        return;
      }
      case "PUT": {
        const body = this.objectBody(record, raw);
        if (body.metadata.name !== undefined && body.metadata.name !== name) {
          throw statusErrors.badRequest(
            `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
          );
        }
        if (body.kind !== undefined && body.kind !== def.kind)
          throw statusErrors.badRequest(
            `the kind ${String(body.kind)} does not match the resource ${def.plural}`,
          );
        sendJson(
          res,
          200,
          this.replaceObject(
            def,
            namespace,
            name,
            body,
            sub === "status" ? "status" : "main",
            "api",
          ),
        );
        return;
      }
      case "PATCH": {
        const stored = this.objects.get(this.key(def, namespace, name));
        if (!stored) throw statusErrors.notFound(def, name);
        let patch: unknown;
        try {
          patch = JSON.parse(raw.toString("utf8"));
        } catch (error) {
          throw statusErrors.badRequest(
            `error decoding patch: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        let patched: unknown;
        switch (record.contentType) {
          case "application/json-patch+json":
            patched = applyJsonPatch(stored, patch);
            break;
          case "application/merge-patch+json":
            patched = applyMergePatch(stored, patch);
            break;
          case "application/strategic-merge-patch+json":
            patched = applyStrategicMergePatch(stored, patch);
            break;
          default:
            throw statusErrors.unsupportedMediaType(record.contentType ?? "none");
        }
        if (!isObject(patched) || !isObject(patched.metadata))
          throw statusErrors.invalid("the patched object has no metadata");
        sendJson(
          res,
          200,
          this.replaceObject(
            def,
            namespace,
            name,
            patched as KubeObject,
            sub === "status" ? "status" : "main",
            "api",
          ),
        );
        return;
      }
      case "DELETE": {
        if (sub !== undefined) throw statusErrors.methodNotAllowed(method);
        const options = isObject(record.body) ? record.body : {};
        const policy =
          q.get("propagationPolicy") ??
          (typeof options.propagationPolicy === "string" ? options.propagationPolicy : undefined) ??
          def.defaultPropagation;
        if (policy !== "Orphan" && policy !== "Background" && policy !== "Foreground")
          throw statusErrors.badRequest(`unsupported propagationPolicy: ${policy}`);
        const preconditions = isObject(options.preconditions)
          ? (options.preconditions as { uid?: string; resourceVersion?: string })
          : undefined;
        const deleted = this.deleteObject(def, namespace, name, policy, "api", preconditions);
        // Pods come back as the deleted object; the other kinds as a Success status.
        sendJson(
          res,
          200,
          def.kind === "Pod" ? deleted : successStatus(def, name, deleted.metadata.uid),
        );
        return;
      }
      default:
        throw statusErrors.methodNotAllowed(method);
    }
  }

  private objectBody(record: RecordedRequest, raw: Buffer): KubeObject {
    if (raw.length === 0) throw statusErrors.badRequest("the request body is empty");
    if (!isObject(record.body))
      throw statusErrors.badRequest("the request body is not a JSON object");
    const body = clone(record.body) as KubeObject;
    if (!isObject(body.metadata)) body.metadata = {};
    return body;
  }

  private matchers(def: ResourceDef, q: URLSearchParams): { label: Matcher; field: Matcher } {
    return {
      label: parseLabelSelector(q.get("labelSelector")),
      field: parseFieldSelector(q.get("fieldSelector"), def.fieldLabels, def.kind),
    };
  }

  private serveList(
    res: ServerResponse,
    def: ResourceDef,
    namespace: string | undefined,
    q: URLSearchParams,
  ): void {
    const { label, field } = this.matchers(def, q);
    // Items of a list carry no kind/apiVersion on the real server: the list's kind says it.
    const items = this.stored(def, namespace)
      .filter((o) => label(o) && field(o))
      .map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    sendJson(res, 200, {
      kind: `${def.kind}List`,
      apiVersion: apiVersionOf(def),
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  private serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    def: ResourceDef,
    namespace: string | undefined,
    q: URLSearchParams,
  ): void {
    const { label, field } = this.matchers(def, q);
    const from = q.get("resourceVersion") ?? "";
    const start = from === "" || from === "0" ? undefined : Number(from);
    if (start !== undefined && !Number.isSafeInteger(start))
      throw statusErrors.badRequest(`invalid resource version: ${from}`);
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    res.flushHeaders();
    if (start !== undefined && start < this.compactedRv) {
      // The real server answers 200 and sends the error as the stream's only event.
      this.write(res, {
        type: "ERROR",
        object: statusErrors.expired(start, this.compactedRv).toStatus(),
      });
      res.end();
      return;
    }
    const watcher: Watcher = {
      def,
      namespace,
      label,
      field,
      bookmarks: q.get("allowWatchBookmarks") === "true",
      res,
    };
    if (start === undefined) {
      // No resourceVersion (or "0"): the current state as ADDED events, then every change.
      for (const object of this.stored(def, namespace))
        if (label(object) && field(object)) this.write(res, { type: "ADDED", object });
    } else {
      for (const entry of this.history) if (entry.rv > start) this.deliver(watcher, entry);
    }
    this.watchers.add(watcher);
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? "0");
    const timer =
      timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    const forget = () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(watcher);
    };
    res.on("close", forget);
    res.on("finish", forget);
    req.on("close", forget);
  }

  private serveLog(
    req: IncomingMessage,
    res: ServerResponse,
    namespace: string,
    name: string,
    q: URLSearchParams,
  ): void {
    const podDef = resourceByKind("Pod");
    const pod = this.objects.get(this.key(podDef, namespace, name));
    if (!pod) throw statusErrors.notFound(podDef, name);
    const spec = (isObject(pod.spec) ? pod.spec : {}) as {
      containers?: { name: string }[];
      initContainers?: { name: string }[];
      ephemeralContainers?: { name: string }[];
    };
    const containers = (spec.containers ?? []).map((c) => c.name);
    const all = [
      ...(spec.initContainers ?? []),
      ...(spec.containers ?? []),
      ...(spec.ephemeralContainers ?? []),
    ].map((c) => c.name);
    let container = q.get("container") ?? "";
    if (container === "") {
      if (containers.length !== 1)
        throw statusErrors.badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(" ")}]`,
        );
      container = containers[0]!;
    }
    if (!all.includes(container))
      throw statusErrors.badRequest(`container ${container} is not valid for pod ${name}`);
    const status = (isObject(pod.status) ? pod.status : {}) as {
      containerStatuses?: ContainerStatus[];
      initContainerStatuses?: ContainerStatus[];
    };
    const containerStatus = [
      ...(status.initContainerStatuses ?? []),
      ...(status.containerStatuses ?? []),
    ].find((s) => s.name === container);
    const waiting = containerStatus?.state?.waiting;
    if (waiting)
      throw statusErrors.badRequest(
        `container "${container}" in pod "${name}" is waiting to start: ${waiting.reason ?? "ContainerCreating"}`,
      );

    const log = this.podLog(namespace, name, container);
    let lines = log.lines;
    const sinceSeconds = Number(q.get("sinceSeconds") ?? "0");
    const sinceTime = q.get("sinceTime");
    const since =
      sinceSeconds > 0
        ? Date.now() - sinceSeconds * 1000
        : sinceTime
          ? Date.parse(sinceTime)
          : undefined;
    if (since !== undefined) lines = lines.filter((l) => l.at.getTime() >= since);
    const tail = q.get("tailLines");
    if (tail !== null && Number(tail) >= 0)
      lines = lines.slice(Math.max(0, lines.length - Number(tail)));
    const limit = Number(q.get("limitBytes") ?? "0");
    const follower: LogFollower = {
      res,
      timestamps: q.get("timestamps") === "true",
      remainingBytes: limit > 0 ? limit : Number.POSITIVE_INFINITY,
    };
    res.writeHead(200, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" });
    res.flushHeaders();
    for (const line of lines) this.writeLogLine(follower, line);
    if (res.writableEnded) return;
    if (q.get("follow") !== "true" || log.ended) {
      res.end();
      return;
    }
    log.followers.add(follower);
    const forget = () => log.followers.delete(follower);
    res.on("close", forget);
    req.on("close", forget);
  }
}

type ContainerStatus = {
  name: string;
  state?: { waiting?: { reason?: string }; running?: unknown; terminated?: unknown };
};

function randomSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join("");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > bodyLimitBytes)
      throw new KubeApiError(413, "", "Request entity too large: limit is 3145728");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
