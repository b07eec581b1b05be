// Helpers of the deployer tests. The Kubernetes API they talk to is a STAND-IN
// (StandInApiServer of @kiln/testing), not Kubernetes: no cluster can be had on the build machines.
import { Writable } from "node:stream";
import { Bus } from "@kiln/bus";
import { createDatabase, listDeploys, type Database, type DeployRecord } from "@kiln/db";
import {
  Deployer,
  DeployRecorder,
  HttpDeployTargets,
  KubernetesDeployer,
  KubeWorkloadApi,
} from "@kiln/deployer";
import { TagRecorder } from "@kiln/image-tags";
import { createLogger, type Logger } from "@kiln/runtime";
import { connectTestBus, StandInApiServer, type KubeObject, type WorkerInfra } from "@kiln/testing";

const registry = "registry.kiln.test:5000";

export function digestOf(n: number | string): string {
  return `sha256:${String(n).padStart(64, "0")}`;
}

export function referenceOf(namespace: string, imageStream: string, digest: string): string {
  return `${registry}/${namespace}/${imageStream}@${digest}`;
}

/** `fieldPath` of the container named `name` of a Deployment/StatefulSet/DaemonSet. */
export const containerPath = (name: string) =>
  `spec.template.spec.containers[?(@.name=="${name}")].image`;

export function triggers(
  ...entries: { tag: string; fieldPath: string; paused?: boolean; namespace?: string }[]
): string {
  return JSON.stringify(
    entries.map((e) => ({
      from: {
        kind: "ImageStreamTag",
        name: e.tag,
        ...(e.namespace ? { namespace: e.namespace } : {}),
      },
      fieldPath: e.fieldPath,
      ...(e.paused === undefined ? {} : { paused: e.paused }),
    })),
  );
}

export function deployment(
  name: string,
  options: {
    namespace?: string;
    annotation?: string;
    openshift?: boolean;
    containers?: { name: string; image: string }[];
    replicas?: number;
  } = {},
): KubeObject {
  const annotations =
    options.annotation === undefined
      ? undefined
      : {
          [options.openshift ? "image.openshift.io/triggers" : "kiln.dev/triggers"]:
            options.annotation,
        };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace: options.namespace ?? "apps",
      labels: { app: name },
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      replicas: options.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: options.containers ?? [{ name: "web", image: `${registry}/apps/app:latest` }],
        },
      },
    },
  };
}

/** Lines a pino logger wrote, parsed. */
class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString().split("\n"))
      if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    callback();
  }
  find(msg: string): Record<string, unknown> | undefined {
    return this.lines.find((l) => l.msg === msg);
  }
}

export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface DeployerHarness {
  kube: StandInApiServer;
  database: Database;
  bus: Bus;
  logs: LogLines;
  logger: Logger;
  tags: TagRecorder;
  deployer: Deployer;
  kubernetes: KubernetesDeployer;
  /** Moves `namespace/imageStream:tag` to `digest` the way the image-watcher does (history item + image.changed). */
  moveTag(namespace: string, imageStream: string, tag: string, digest: string): Promise<string>;
  deploys(namespace?: string): Promise<DeployRecord[]>;
  /** The deploy of a workload for a digest, once it reached one of `phases`. */
  waitForDeploy(
    match: (d: DeployRecord) => boolean,
    phases: readonly string[],
    what: string,
    timeoutMs?: number,
  ): Promise<DeployRecord>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The deployer's components in this process (as services/deployer/src/main.ts wires them),
 * against the test's real NATS and Postgres and a stand-in Kubernetes API server.
 */
export async function startDeployer(
  fixtures: { infra: WorkerInfra; database: { url: string }; subjectPrefix: string },
  options: {
    namespaces?: string[];
    rolloutDeadlineMs?: number;
    http?: { urls: string[]; secret: string };
    kube?: StandInApiServer;
    setup?: (kube: StandInApiServer) => void | Promise<void>;
  } = {},
): Promise<DeployerHarness> {
  const kube = options.kube ?? (await StandInApiServer.start());
  await options.setup?.(kube);
  const logs = new LogLines();
  const logger = createLogger({ service: "deployer-test", level: "debug", destination: logs });
  const database = createDatabase(fixtures.database.url);
  const bus = await connectTestBus(fixtures.infra, {
    prefix: fixtures.subjectPrefix,
    name: "deployer-test",
    logger,
  });
  const recorder = new DeployRecorder({ db: database.db, bus, logger });
  const kubernetes = new KubernetesDeployer({
    api: new KubeWorkloadApi(kube.kubeConfig()),
    namespaces: options.namespaces ?? ["apps"],
    db: database.db,
    recorder,
    logger,
    rolloutDeadlineMs: options.rolloutDeadlineMs ?? 20_000,
  });
  const http = options.http
    ? new HttpDeployTargets({ ...options.http, recorder, logger, backoffMs: 100 })
    : null;
  const deployer = new Deployer({ bus, logger, kubernetes, http });
  await deployer.start();
  const tags = new TagRecorder({ db: database.db, bus, logger });
  const deploys = (namespace?: string) =>
    listDeploys(database.db, namespace === undefined ? undefined : [namespace]);
  return {
    kube,
    database,
    bus,
    logs,
    logger,
    tags,
    deployer,
    kubernetes,
    async moveTag(namespace, imageStream, tag, digest) {
      const imageReference = referenceOf(namespace, imageStream, digest);
      await tags.record({
        namespace,
        imageStream,
        tag,
        digest,
        imageReference,
        cause: { type: "Build", build: `${imageStream}-1` },
      });
      return imageReference;
    },
    deploys,
    async waitForDeploy(match, phases, what, timeoutMs) {
      return until(
        async () => (await deploys()).find((d) => match(d) && phases.includes(d.status)),
        what,
        timeoutMs,
      );
    },
    async [Symbol.asyncDispose]() {
      await deployer.stop();
      await bus.drain();
      await database.close();
      if (!options.kube) await kube.stop();
    },
  };
}
