import {
  AppsV1Api,
  BatchV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from "@kubernetes/client-node";
import { assertNever, type WorkloadKind, type WorkloadObject } from "@kiln/domain";
import { KubeRequestError } from "./errors.js";

/** A watch event as the API server streams it. */
export type WatchEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: WorkloadObject }
  | { type: "BOOKMARK"; resourceVersion: string }
  | { type: "ERROR"; status: { code?: number; reason?: string; message?: string } };

const fieldManager = "kiln-deployer";

/** JSON as the API server sent it: typed client objects carry Dates and class instances. */
function plain<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function withKind(kind: WorkloadKind, object: unknown): WorkloadObject {
  const o = plain<WorkloadObject>(object);
  o.kind = kind;
  return o;
}

/**
 * The deployer's view of the Kubernetes API: list, get, watch and strategic-merge patch of the
 * four workload kinds, through @kubernetes/client-node. Errors become {@link KubeRequestError}.
 */
export class KubeWorkloadApi {
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly watcher: Watch;

  constructor(private readonly kubeConfig: KubeConfig) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.watcher = new Watch(kubeConfig);
  }

  /** `https://…` of the cluster, for the start-up log line. */
  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? "";
  }

  /** The collection URL path of a kind in a namespace (what a watch is opened on). */
  static path(kind: WorkloadKind, namespace: string): string {
    const ns = encodeURIComponent(namespace);
    switch (kind) {
      case "Deployment":
        return `/apis/apps/v1/namespaces/${ns}/deployments`;
      case "StatefulSet":
        return `/apis/apps/v1/namespaces/${ns}/statefulsets`;
      case "DaemonSet":
        return `/apis/apps/v1/namespaces/${ns}/daemonsets`;
      case "CronJob":
        return `/apis/batch/v1/namespaces/${ns}/cronjobs`;
      default:
        return assertNever(kind, "workload kind");
    }
  }

  async list(
    kind: WorkloadKind,
    namespace: string,
  ): Promise<{ items: WorkloadObject[]; resourceVersion: string }> {
    const list = await this.call(`LIST ${kind} ${namespace}`, async () => {
      switch (kind) {
        case "Deployment":
          return this.apps.listNamespacedDeployment({ namespace });
        case "StatefulSet":
          return this.apps.listNamespacedStatefulSet({ namespace });
        case "DaemonSet":
          return this.apps.listNamespacedDaemonSet({ namespace });
        case "CronJob":
          return this.batch.listNamespacedCronJob({ namespace });
        default:
          return assertNever(kind, "workload kind");
      }
    });
    return {
      items: list.items.map((item: unknown) => withKind(kind, item)),
      resourceVersion: list.metadata?.resourceVersion ?? "",
    };
  }

  /** The workload, or null when there is none. */
  async get(kind: WorkloadKind, namespace: string, name: string): Promise<WorkloadObject | null> {
    try {
      const object = await this.call(`GET ${kind} ${namespace}/${name}`, async () => {
        switch (kind) {
          case "Deployment":
            return this.apps.readNamespacedDeployment({ namespace, name });
          case "StatefulSet":
            return this.apps.readNamespacedStatefulSet({ namespace, name });
          case "DaemonSet":
            return this.apps.readNamespacedDaemonSet({ namespace, name });
          case "CronJob":
            return this.batch.readNamespacedCronJob({ namespace, name });
          default:
            return assertNever(kind, "workload kind");
        }
      });
      return withKind(kind, object);
    } catch (error) {
      if (KubeRequestError.parse(error)?.code === 404) return null;
      throw error;
    }
  }

  /** Sends a strategic merge patch (`application/strategic-merge-patch+json`); returns the patched workload. */
  async patch(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    body: Record<string, unknown>,
  ): Promise<WorkloadObject> {
    const options = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    const object = await this.call(`PATCH ${kind} ${namespace}/${name}`, async () => {
      switch (kind) {
        case "Deployment":
          return this.apps.patchNamespacedDeployment(
            { namespace, name, body, fieldManager },
            options,
          );
        case "StatefulSet":
          return this.apps.patchNamespacedStatefulSet(
            { namespace, name, body, fieldManager },
            options,
          );
        case "DaemonSet":
          return this.apps.patchNamespacedDaemonSet(
            { namespace, name, body, fieldManager },
            options,
          );
        case "CronJob":
          return this.batch.patchNamespacedCronJob(
            { namespace, name, body, fieldManager },
            options,
          );
        default:
          return assertNever(kind, "workload kind");
      }
    });
    return withKind(kind, object);
  }

  /**
   * Opens a watch from `resourceVersion` with bookmarks. `onEvent` gets each event; `onDone` is
   * called once when the stream ends (null: closed by the server; an error otherwise). Returns
   * a function that closes the watch.
   */
  async watch(
    kind: WorkloadKind,
    namespace: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    onDone: (error: unknown) => void,
    options: { timeoutSeconds: number },
  ): Promise<() => void> {
    const controller = await this.watcher.watch(
      KubeWorkloadApi.path(kind, namespace),
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: options.timeoutSeconds },
      (type: string, object: unknown) => {
        const o = object as { metadata?: { resourceVersion?: string } } & Record<string, unknown>;
        if (type === "BOOKMARK")
          onEvent({ type, resourceVersion: o.metadata?.resourceVersion ?? "" });
        else if (type === "ERROR")
          onEvent({ type, status: o as { code?: number; reason?: string; message?: string } });
        else if (type === "ADDED" || type === "MODIFIED" || type === "DELETED")
          onEvent({ type, object: withKind(kind, object) });
      },
      onDone,
    );
    return () => controller.abort();
  }

  private async call<T>(request: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toKubeError(request, error);
    }
  }
}

/** client-node's ApiException (code + Status body) or a network error, as a KubeRequestError. */
function toKubeError(request: string, error: unknown): KubeRequestError {
  const e = error as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof e.code === "number") {
    let message = `HTTP ${e.code}`;
    try {
      const status = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as
        { reason?: string; message?: string } | undefined;
      if (status?.message) message = `${status.reason ?? e.code}: ${status.message}`;
    } catch {
      // not a Status body: the code says enough
    }
    return new KubeRequestError(e.code, request, message, { cause: error });
  }
  return new KubeRequestError(0, request, error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
