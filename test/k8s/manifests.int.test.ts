/**
 * The manifests in k8s/, rendered and checked without a cluster: no Kubernetes cluster can be had
 * on the build machines, so nothing here is applied anywhere. What is checked:
 *
 * - Rendering: the base and every overlay with kustomize, the one built into the kubectl of
 *   Debian's kubernetes-client package (kubectl 1.20, kustomize v2.0.3), which scripts/bootstrap
 *   unpacks into .tools/. Where a newer kubectl is on PATH (kustomize v4+), its rendering must
 *   give the same objects.
 * - Schemas: every rendered object against the schema of its apiVersion and kind, generated from
 *   the Kubernetes OpenAPI: `kubernetes-models` (Kubernetes 1.27: types, required fields,
 *   formats) and, because those validators let unknown fields through, the field lists of
 *   `@kubernetes/client-node`'s models (OpenAPI 1.34) for a strict unknown-field check, as the
 *   API server's strict field validation does.
 * - What the services need, asked of the services themselves (`--config-schema`,
 *   `--check-config`): every Deployment sets each variable its service requires, its environment
 *   parses, and its probes hit /healthz on the port and address that environment makes it listen on.
 * - Security, RBAC (least privilege, exactly), NATS clustering (its nats.conf checked by Debian's
 *   nats-server).
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { kilnServiceNames, type KilnServiceName } from "@kiln/infra";
import { parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kiln-services.js";
import { canConnect, type NetworkPolicy, type PodEndpoint } from "./network-policy.js";
import {
  checkConfig,
  configSchema,
  listenHost,
  listenPort,
  mapLimit,
  type ConfigSchema,
  type KilnEntry,
} from "../support/service-config.js";

const exec = promisify(execFile);

// A loose shape for rendered objects: the schema checks below are what give them a type.
type Obj = Record<string, any>;

const k8sDir = join(repoRoot, "k8s");
const debianKubectl =
  process.env.KILN_KUBECTL ??
  join(repoRoot, ".tools", "kubernetes-client", "usr", "bin", "kubectl");
const overlays = readdirSync(join(k8sDir, "overlays")).sort();
const targets = ["base", ...overlays.map((o) => `overlays/${o}`)];
/** Where the Secrets a target does not contain are documented (production creates them beforehand). */
const secretsExample = join(k8sDir, "overlays", "production", "secrets.example.yaml");

const expectedDeployerRules = new Set(
  [
    ...["deployments", "statefulsets", "daemonsets"].map((r) => `apps/${r}`),
    "batch/cronjobs",
  ].flatMap((gr) => ["get", "list", "watch", "patch"].map((verb) => `${gr}:${verb}`)),
);
const expectedBuildRunnerRules = new Set([
  ...["get", "list", "create", "delete"].map((v) => `batch/jobs:${v}`),
  ...["get", "list"].map((v) => `core/pods:${v}`),
  "core/pods/log:get",
  "core/secrets:create",
  "core/secrets:delete",
]);

function parseYaml(text: string, source: string): Obj[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0)
        throw new Error(`${source}: ${doc.errors.map((e) => e.message).join("; ")}`);
      return doc.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

async function render(kubectl: string, target: string): Promise<Obj[]> {
  const { stdout } = await exec(kubectl, ["kustomize", join(k8sDir, target)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseYaml(stdout, `${target} (kustomize)`);
}

const id = (o: Obj) =>
  `${o.apiVersion}/${o.kind} ${o.metadata?.namespace ?? "-"}/${o.metadata?.name}`;

// ---------------------------------------------------------------------------------------------
// Schema validation

/** kubernetes-models' validator for an apiVersion and kind: `kubernetes-models/<group>/<version>/<Kind>`, `v1/<Kind>` for the core group. */
async function modelsValidate(o: Obj): Promise<string[]> {
  const [group, version] = String(o.apiVersion).includes("/")
    ? String(o.apiVersion).split("/")
    : ["", String(o.apiVersion)];
  const path = group
    ? `kubernetes-models/${group}/${version}/${o.kind}`
    : `kubernetes-models/${version}/${o.kind}`;
  let mod: Obj;
  try {
    mod = (await import(path)) as Obj;
  } catch {
    return [`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  }
  const Model = mod[String(o.kind)] as (new (data: Obj) => { validate(): void }) | undefined;
  if (!Model) return [`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  try {
    new Model(o).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
    return errors
      ? errors.map((e) => `${id(o)}: ${e.instancePath || "/"} ${e.message ?? "invalid"}`)
      : [`${id(o)}: ${(error as Error).message}`];
  }
}

type AttributeTypeMap = { baseName: string; type: string }[];
const models = k8s as unknown as Record<
  string,
  { attributeTypeMap?: AttributeTypeMap } | undefined
>;

/** Fields the OpenAPI of that type does not have (client-node's generated models list every field of every type). */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value))
      value.forEach((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (value && typeof value === "object")
      for (const [k, v] of Object.entries(value)) unknownFields(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  const attributes = models[type]?.attributeTypeMap;
  // Primitives, IntOrString, quantities: kubernetes-models checks those.
  if (!attributes || typeof value !== "object" || Array.isArray(value)) return;
  const fields = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [key, v] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined)
      out.push(`${path}.${key}: unknown field (${type} has ${[...fields.keys()].join(", ")})`);
    else unknownFields(v, fieldType, `${path}.${key}`, out);
  }
}

function strictFields(o: Obj): string[] {
  const version = String(o.apiVersion).split("/").pop()!;
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${o.kind}`;
  if (!models[type]?.attributeTypeMap)
    return [`${id(o)}: no model ${type} in @kubernetes/client-node`];
  const out: string[] = [];
  unknownFields(o, type, id(o), out);
  return out;
}

async function schemaErrors(o: Obj): Promise<string[]> {
  return [...(await modelsValidate(o)), ...strictFields(o)];
}

// ---------------------------------------------------------------------------------------------
// Pods and what they run

const podTemplates = (objects: Obj[]) =>
  objects
    .filter(
      (o) =>
        ["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(o.kind) || o.kind === "CronJob",
    )
    .map((o) => ({
      owner: o,
      spec: (o.kind === "CronJob"
        ? o.spec.jobTemplate.spec.template.spec
        : o.spec.template.spec) as Obj,
    }));

const allContainers = (pod: Obj): Obj[] => [
  ...(pod.initContainers ?? []),
  ...(pod.containers ?? []),
];

/** Whether a container runs the Kiln image (`kiln`, `kiln:dev`, `registry/…/kiln:tag`). */
const isKilnImage = (image: string) => /(^|\/)kiln(:[^/]*)?(@sha256:[0-9a-f]+)?$/.test(image);

/** Resolves a container's environment as the kubelet would: envFrom first, then env; ConfigMaps from the rendering, Secrets from it or from the documented example. */
function containerEnv(
  container: Obj,
  namespace: string,
  objects: Obj[],
  documentedSecrets: Obj[],
): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  const find = (kind: string, name: string, pool: Obj[]) =>
    pool.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (o.metadata.namespace ?? "default") === namespace,
    );
  const secretData = (s: Obj): Record<string, string> => ({
    ...Object.fromEntries(
      Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    ),
    ...(s.stringData ?? {}),
  });
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const cm = find("ConfigMap", source.configMapRef.name, objects);
      if (!cm)
        problems.push(`envFrom ConfigMap ${source.configMapRef.name} is not in the rendering`);
      else Object.assign(env, cm.data ?? {});
    }
    if (source.secretRef) {
      const secret =
        find("Secret", source.secretRef.name, objects) ??
        find("Secret", source.secretRef.name, documentedSecrets);
      if (!secret)
        problems.push(`envFrom Secret ${source.secretRef.name} is neither rendered nor documented`);
      else Object.assign(env, secretData(secret));
    }
  }
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = String(v.value);
    else if (v.valueFrom?.configMapKeyRef) {
      const ref = v.valueFrom.configMapKeyRef;
      const value = find("ConfigMap", ref.name, objects)?.data?.[ref.key];
      if (value === undefined)
        problems.push(`${v.name}: ConfigMap ${ref.name} has no key ${ref.key}`);
      else env[v.name] = value;
    } else if (v.valueFrom?.secretKeyRef) {
      const ref = v.valueFrom.secretKeyRef;
      const secret =
        find("Secret", ref.name, objects) ?? find("Secret", ref.name, documentedSecrets);
      const value = secret ? secretData(secret)[ref.key] : undefined;
      if (value === undefined)
        problems.push(
          `${v.name}: Secret ${ref.name} key ${ref.key} is neither rendered nor documented`,
        );
      else env[v.name] = value;
    } else if (v.valueFrom?.fieldRef) {
      env[v.name] = `<${v.valueFrom.fieldRef.fieldPath}>`;
    }
  }
  return { env, problems };
}

/** A probe's port as a number, looking named ports up in the container. */
function probePort(container: Obj, probe: Obj | undefined): number | undefined {
  const port = probe?.httpGet?.port;
  if (typeof port === "number") return port;
  return (container.ports ?? []).find((p: Obj) => p.name === port)?.containerPort;
}

/** RBAC rules as `group/resource:verb` triples (`core` for the core group). */
function ruleTriples(rules: Obj[]): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? [""]).flatMap((g: string) =>
      (r.resources ?? []).flatMap((res: string) =>
        (r.verbs ?? []).map((v: string) => `${g === "" ? "core" : g}/${res}:${v}`),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------

const rendered = new Map<string, Obj[]>();
const schemas = new Map<KilnEntry, ConfigSchema>();
let documentedSecrets: Obj[] = [];

beforeAll(async () => {
  if (!existsSync(debianKubectl)) {
    throw new Error(
      `${debianKubectl} is missing: run scripts/bootstrap (it unpacks Debian's kubernetes-client into .tools/)`,
    );
  }
  for (const target of targets) rendered.set(target, await render(debianKubectl, target));
  documentedSecrets = parseYaml(readFileSync(secretsExample, "utf8"), secretsExample);
  const entries: KilnEntry[] = [...kilnServiceNames, "migrate"];
  const results = await mapLimit(entries, 3, (e) => configSchema(e));
  entries.forEach((e, i) => schemas.set(e, results[i]!));
}, 120_000);

describe("k8s/ renders with kustomize", () => {
  it("has a base and the dev and production overlays, each rendering Kiln", () => {
    expect(overlays).toEqual(expect.arrayContaining(["dev", "production"]));
    for (const target of targets) {
      const kinds = new Set(rendered.get(target)!.map((o) => o.kind));
      expect([...kinds], target).toEqual(
        expect.arrayContaining([
          "Namespace",
          "ConfigMap",
          "Deployment",
          "StatefulSet",
          "Service",
          "ServiceAccount",
          "Role",
          "RoleBinding",
          "ClusterRole",
        ]),
      );
    }
  });

  it("renders no object twice", () => {
    for (const target of targets) {
      const ids = rendered.get(target)!.map(id);
      expect(
        ids.filter((x, i) => ids.indexOf(x) !== i),
        target,
      ).toEqual([]);
    }
  });

  // Where a current kubectl is installed (not from Debian), its kustomize must agree with v2.0.3:
  // the manifests are written for both.
  const modernKubectl = (process.env.PATH ?? "")
    .split(delimiter)
    .map((d) => join(d, "kubectl"))
    .find((p) => existsSync(p) && p !== debianKubectl);
  it.skipIf(!modernKubectl)("renders the same objects with a current kustomize", async () => {
    const { stdout } = await exec(modernKubectl!, ["version", "--client", "-o", "json"]);
    const kustomize = String((JSON.parse(stdout) as Obj).kustomizeVersion ?? "");
    if (!/^v[4-9]/.test(kustomize)) return; // an old kubectl on PATH tells nothing new
    for (const target of targets) {
      const byId = (objects: Obj[]) => Object.fromEntries(objects.map((o) => [id(o), o]));
      expect(
        byId(await render(modernKubectl!, target)),
        `${target} with kustomize ${kustomize}`,
      ).toEqual(byId(rendered.get(target)!));
    }
  });
});

describe("every object is valid against the Kubernetes schema of its kind", () => {
  it("catches a wrong type, a missing required field and an unknown field (the validators are live)", async () => {
    const bad: Obj = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "bad", namespace: "kiln" },
      spec: {
        template: {
          spec: {
            containers: [
              { name: "x", image: "kiln", readinesProbe: {}, ports: [{ containerPort: "80" }] },
            ],
          },
        },
      },
    };
    const errors = (await schemaErrors(bad)).join("\n");
    expect(errors).toMatch(/containerPort must be integer/);
    expect(errors).toMatch(/\/spec must have required property '?selector'?/);
    expect(errors).toMatch(/containers\[0\]\.readinesProbe: unknown field/);
    expect(
      await schemaErrors({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "ok" },
        rules: [],
      }),
    ).toEqual([]);
  });

  for (const target of targets) {
    it(`${target}`, async () => {
      const errors = (await Promise.all(rendered.get(target)!.map(schemaErrors))).flat();
      expect(errors).toEqual([]);
    });
  }

  it("overlays/production/secrets.example.yaml (the Secrets production expects)", async () => {
    expect(documentedSecrets.map((s) => s.kind)).toEqual(["Secret", "Secret", "Secret"]);
    expect((await Promise.all(documentedSecrets.map(schemaErrors))).flat()).toEqual([]);
  });
});

describe("every Kiln service runs with what its config requires", () => {
  it("asks the services themselves (the checks are live)", async () => {
    expect(schemas.get("api")!.required).toEqual(
      expect.arrayContaining(["DATABASE_URL", "API_TOKEN"]),
    );
    const refused = await checkConfig("api", {
      DATABASE_URL: "postgres://x/y",
      KILN_REGISTRY: "r",
      API_TOKEN: "short",
      API_PORT: "http",
    });
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/API_TOKEN/);
    expect(refused.output).toMatch(/API_PORT/);
  });

  for (const target of targets) {
    it(`${target}: one Deployment per service, with every required variable set and an environment the service accepts`, async () => {
      const objects = rendered.get(target)!;
      const deployments = objects.filter(
        (o) => o.kind === "Deployment" && o.metadata.namespace === "kiln",
      );
      const byService = new Map<string, Obj>();
      for (const d of deployments) {
        const main = d.spec.template.spec.containers.find((c: Obj) => isKilnImage(c.image));
        expect(main, `${id(d)} runs no Kiln container`).toBeDefined();
        byService.set(main.args?.[0], d);
      }
      expect([...byService.keys()].sort()).toEqual([...kilnServiceNames].sort());

      // Every container running the Kiln image: the service its first argument names, or `migrate`.
      const checks: { what: string; entry: KilnEntry; env: Record<string, string> }[] = [];
      for (const d of deployments) {
        for (const c of allContainers(d.spec.template.spec).filter((c) => isKilnImage(c.image))) {
          const entry = c.args?.[0] as KilnEntry;
          expect(schemas.has(entry), `${id(d)} container ${c.name} runs ${String(entry)}`).toBe(
            true,
          );
          const { env, problems } = containerEnv(
            c,
            d.metadata.namespace,
            objects,
            documentedSecrets,
          );
          expect(problems, `${id(d)} container ${c.name}`).toEqual([]);
          const missing = schemas.get(entry)!.required.filter((name) => env[name] === undefined);
          expect(
            missing,
            `${id(d)} container ${c.name} (${entry}) lacks required variables`,
          ).toEqual([]);
          checks.push({ what: `${id(d)} container ${c.name}`, entry, env });
        }
      }
      // Deduplicated: the init containers of one rendering share an environment.
      const unique = [
        ...new Map(checks.map((c) => [`${c.entry} ${JSON.stringify(c.env)}`, c])).values(),
      ];
      const results = await mapLimit(unique, 3, (c) => checkConfig(c.entry, c.env));
      const refused = unique.flatMap((c, i) =>
        results[i]!.ok ? [] : [`${c.what}: ${results[i]!.output}`],
      );
      expect(refused).toEqual([]);
    });

    it(`${target}: liveness and readiness probes on /healthz at the address and port each service listens on`, () => {
      const objects = rendered.get(target)!;
      for (const d of objects.filter(
        (o) => o.kind === "Deployment" && o.metadata.namespace === "kiln",
      )) {
        const container = d.spec.template.spec.containers.find((c: Obj) => isKilnImage(c.image));
        const service = container.args[0] as KilnServiceName;
        const { env } = containerEnv(container, "kiln", objects, documentedSecrets);
        const schema = schemas.get(service)!;
        const port = listenPort(service, env, schema);
        // Bound to loopback (the services' safe default), the kubelet's probes could not reach it.
        expect(listenHost(service, env, schema), `${id(d)} listen address`).toMatch(
          /^(0\.0\.0\.0|::)$/,
        );
        expect(
          (container.ports ?? []).map((p: Obj) => p.containerPort),
          `${id(d)} declares its port`,
        ).toContain(port);
        for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"]) {
          const probe = container[kind] as Obj | undefined;
          if (kind === "startupProbe" && !probe) continue;
          expect(probe?.httpGet?.path, `${id(d)} ${kind}`).toBe("/healthz");
          expect(probePort(container, probe), `${id(d)} ${kind} port`).toBe(port);
        }
      }
    });
  }

  it("points each Service at a port its pods declare, and exposes the api, webhook-receiver and image-watcher", () => {
    for (const target of targets) {
      const objects = rendered.get(target)!;
      const selected = new Set<string>();
      for (const svc of objects.filter((o) => o.kind === "Service")) {
        const pods = podTemplates(objects).filter(
          ({ owner }) =>
            owner.metadata.namespace === svc.metadata.namespace &&
            Object.entries(svc.spec.selector ?? {}).every(
              ([k, v]) =>
                (owner.kind === "CronJob" ? {} : owner.spec.template.metadata.labels)[k] === v,
            ),
        );
        expect(pods.length, `${target} ${id(svc)} selects a workload`).toBeGreaterThan(0);
        for (const p of svc.spec.ports) {
          const ok = pods.every(({ spec }) =>
            spec.containers.some((c: Obj) =>
              (c.ports ?? []).some(
                (cp: Obj) => cp.name === p.targetPort || cp.containerPort === p.targetPort,
              ),
            ),
          );
          expect(ok, `${target} ${id(svc)} port ${p.name} → ${p.targetPort}`).toBe(true);
        }
        for (const { owner } of pods) selected.add(owner.metadata.name);
      }
      expect([...selected], target).toEqual(
        expect.arrayContaining(["kiln-api", "kiln-webhook-receiver", "kiln-image-watcher"]),
      );
    }
  });

  it("runs the build Jobs in the Kiln image the Deployments run, in the build namespace", () => {
    for (const target of targets) {
      const objects = rendered.get(target)!;
      const runner = objects.find(
        (o) => o.kind === "Deployment" && o.metadata.name === "kiln-build-runner",
      )!;
      const container = runner.spec.template.spec.containers[0];
      const { env } = containerEnv(container, "kiln", objects, documentedSecrets);
      expect(env.BUILD_RUNNER_ENGINE, target).toBe("kubernetes");
      expect(env.BUILD_RUNNER_KUBE_IMAGE, target).toBe(container.image);
      const images = new Set(
        podTemplates(objects)
          .flatMap(({ spec }) => allContainers(spec).map((c) => c.image as string))
          .filter(isKilnImage),
      );
      expect([...images], `${target}: one Kiln image everywhere`).toEqual([container.image]);
      expect(
        objects.some(
          (o) => o.kind === "Namespace" && o.metadata.name === env.BUILD_RUNNER_KUBE_NAMESPACE,
        ),
        target,
      ).toBe(true);
      expect(env.BUILD_RUNNER_KUBE_IMAGE_PULL_POLICY ?? "IfNotPresent", target).toBe(
        container.imagePullPolicy,
      );
      // Build pods live in the build namespace: the NATS they are given must name the Service's namespace.
      const natsHost = new URL(env.BUILD_RUNNER_KUBE_NATS_URL ?? env.NATS_URL ?? "").hostname.split(
        ".",
      );
      const natsService = objects.find(
        (o) =>
          o.kind === "Service" &&
          o.metadata.name === natsHost[0] &&
          o.metadata.namespace === natsHost[1],
      );
      expect(
        natsService,
        `${target}: BUILD_RUNNER_KUBE_NATS_URL from ${env.BUILD_RUNNER_KUBE_NAMESPACE}`,
      ).toBeDefined();
      const account = env.BUILD_RUNNER_KUBE_SERVICE_ACCOUNT;
      if (account !== undefined) {
        const sa = objects.find(
          (o) =>
            o.kind === "ServiceAccount" &&
            o.metadata.name === account &&
            o.metadata.namespace === env.BUILD_RUNNER_KUBE_NAMESPACE,
        );
        expect(sa, `${target}: build pods' service account ${account}`).toBeDefined();
        expect(sa!.automountServiceAccountToken, `${target}: build pods get no API token`).toBe(
          false,
        );
      }
    }
  });
});

describe("NetworkPolicies fence the build pods", () => {
  for (const target of targets) {
    it(`${target}: a build pod reaches the internet and NATS's client port, no other pod of Kiln's, no private address; Kiln's pods take traffic only where it should come from`, () => {
      const objects = rendered.get(target)!;
      const policies = objects.filter((o) => o.kind === "NetworkPolicy") as NetworkPolicy[];
      expect(policies.length, target).toBeGreaterThan(0);
      const namespaceLabels = (ns: string) => ({
        "kubernetes.io/metadata.name": ns,
        ...(objects.find((o) => o.kind === "Namespace" && o.metadata.name === ns)?.metadata
          .labels ?? {}),
      });
      // Every pod Kiln runs in `kiln`, with the container ports it declares.
      const kilnPods: (PodEndpoint & { name: string })[] = podTemplates(objects)
        .filter(({ owner }) => owner.metadata.namespace === "kiln")
        .map(({ owner, spec }) => ({
          name: owner.metadata.name,
          namespace: "kiln",
          labels: owner.spec.template.metadata.labels,
          ports: Object.fromEntries(
            (spec.containers as Obj[]).flatMap((c) =>
              (c.ports ?? []).map((p: Obj) => [p.name, p.containerPort]),
            ),
          ),
        }));
      expect(kilnPods.map((p) => p.name)).toEqual(
        expect.arrayContaining(["kiln-api", "kiln-scheduler", "kiln-nats"]),
      );
      const buildPod: PodEndpoint = {
        namespace: "kiln-builds",
        labels: { "job-name": "kiln-build-app-1", "kiln.dev/build": "app-1" },
      };
      const dns: PodEndpoint = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } };
      const otherTeam: PodEndpoint = { namespace: "team-a", labels: { app: "web" } };
      const nats = kilnPods.find((p) => p.name === "kiln-nats")!;
      const reach = (from: PodEndpoint, to: PodEndpoint | string, port: number) =>
        canConnect(
          policies,
          from,
          typeof to === "string" ? { ip: to } : { pod: to },
          port,
          namespaceLabels,
        );

      for (const pod of kilnPods) {
        for (const [name, port] of Object.entries(pod.ports ?? {})) {
          const allowed = pod === nats && port === 4222;
          expect(
            { to: `${pod.name}:${name}`, reached: reach(buildPod, pod, port) },
            target,
          ).toEqual({ to: `${pod.name}:${name}`, reached: allowed });
        }
      }
      expect(reach(buildPod, dns, 53)).toBe(true);
      expect(reach(buildPod, "140.82.112.3", 443)).toBe(true); // a git host
      expect(reach(buildPod, "2606:4700::1111", 443)).toBe(true);
      for (const ip of ["10.0.0.5", "172.20.1.9", "192.168.1.10", "100.64.0.10", "169.254.169.254"])
        expect({ ip, reached: reach(buildPod, ip, 5432) }).toEqual({ ip, reached: false });
      // Kiln's own pods keep their bus and database; other namespaces reach only the front doors.
      const scheduler = kilnPods.find((p) => p.name === "kiln-scheduler")!;
      const api = kilnPods.find((p) => p.name === "kiln-api")!;
      expect(reach(scheduler, nats, 4222)).toBe(true);
      expect(reach(scheduler, "10.0.0.5", 5432)).toBe(true);
      expect(reach(otherTeam, api, api.ports!.http!)).toBe(true);
      expect(reach(otherTeam, nats, 4222)).toBe(false);
      expect(reach(otherTeam, scheduler, scheduler.ports!.health!)).toBe(true);
      expect(reach(otherTeam, api, 5432)).toBe(false);
    });
  }
});

describe("pods are unprivileged", () => {
  for (const target of targets) {
    it(`${target}: non-root, RuntimeDefault seccomp, all capabilities dropped, read-only root, no privilege escalation, no host access, requests and limits`, () => {
      const objects = rendered.get(target)!;
      const templates = podTemplates(objects);
      expect(templates.length).toBeGreaterThanOrEqual(7);
      for (const { owner, spec } of templates) {
        const where = `${target} ${id(owner)}`;
        expect(spec.hostNetwork ?? false, where).toBe(false);
        expect(spec.hostPID ?? false, where).toBe(false);
        expect(spec.hostIPC ?? false, where).toBe(false);
        expect(
          (spec.volumes ?? []).filter((v: Obj) => v.hostPath).map((v: Obj) => v.name),
          `${where}: hostPath volumes`,
        ).toEqual([]);
        expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
        expect(spec.securityContext?.seccompProfile?.type, where).toBe("RuntimeDefault");
        if (owner.metadata.namespace === "kiln" && owner.kind === "Deployment") {
          expect(spec.enableServiceLinks, `${where}: Service env vars could shadow settings`).toBe(
            false,
          );
        }
        for (const c of allContainers(spec)) {
          const at = `${where} container ${c.name}`;
          const sc = c.securityContext ?? {};
          expect(sc.privileged ?? false, at).toBe(false);
          expect(sc.allowPrivilegeEscalation, at).toBe(false);
          expect(sc.readOnlyRootFilesystem, at).toBe(true);
          expect(sc.capabilities?.drop, at).toContain("ALL");
          expect(sc.capabilities?.add ?? [], at).toEqual([]);
          expect(
            sc.runAsUser ?? spec.securityContext.runAsUser,
            `${at}: runs as a non-root uid`,
          ).toBeGreaterThan(0);
          for (const kind of ["requests", "limits"]) {
            expect(Object.keys(c.resources?.[kind] ?? {}).sort(), `${at} ${kind}`).toEqual([
              "cpu",
              "memory",
            ]);
          }
        }
      }
      // The `kiln` namespace enforces the `restricted` Pod Security Standard, which all of the above meets.
      const ns = objects.find((o) => o.kind === "Namespace" && o.metadata.name === "kiln");
      expect(ns?.metadata.labels?.["pod-security.kubernetes.io/enforce"], target).toBe(
        "restricted",
      );
    });
  }
});

describe("RBAC is least privilege", () => {
  for (const target of targets) {
    it(`${target}: the deployer may get/list/watch/patch the four workload kinds in its watched namespaces, nothing else`, () => {
      const objects = rendered.get(target)!;
      const isDeployer = (s: Obj) =>
        s.kind === "ServiceAccount" && s.name === "kiln-deployer" && s.namespace === "kiln";
      const bindings = objects.filter(
        (o) =>
          (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
          (o.subjects ?? []).some(isDeployer),
      );
      expect(
        bindings.filter((b) => b.kind === "ClusterRoleBinding").map(id),
        "no cluster-wide binding",
      ).toEqual([]);
      expect(bindings.length).toBeGreaterThan(0);
      for (const b of bindings) {
        const role =
          b.roleRef.kind === "ClusterRole"
            ? objects.find((o) => o.kind === "ClusterRole" && o.metadata.name === b.roleRef.name)
            : objects.find(
                (o) =>
                  o.kind === "Role" &&
                  o.metadata.name === b.roleRef.name &&
                  o.metadata.namespace === b.metadata.namespace,
              );
        expect(role, `${id(b)} → ${b.roleRef.kind} ${b.roleRef.name}`).toBeDefined();
        expect(
          role!.rules.every((r: Obj) => !r.resourceNames && !r.nonResourceURLs),
          id(role!),
        ).toBe(true);
        expect(new Set(ruleTriples(role!.rules)), id(role!)).toEqual(expectedDeployerRules);
      }
      // Bound exactly in the namespaces the deployer is told to watch.
      const deployer = objects.find(
        (o) => o.kind === "Deployment" && o.metadata.name === "kiln-deployer",
      )!;
      const { env } = containerEnv(
        deployer.spec.template.spec.containers[0],
        "kiln",
        objects,
        documentedSecrets,
      );
      const watched = (env.DEPLOYER_NAMESPACES ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .sort();
      expect(watched.length, "DEPLOYER_NAMESPACES names at least one namespace").toBeGreaterThan(0);
      expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(watched);
    });

    it(`${target}: the build-runner may manage Jobs, read pods and their logs, create and delete Secrets, in the build namespace only`, () => {
      const objects = rendered.get(target)!;
      const runner = objects.find(
        (o) => o.kind === "Deployment" && o.metadata.name === "kiln-build-runner",
      )!;
      const { env } = containerEnv(
        runner.spec.template.spec.containers[0],
        "kiln",
        objects,
        documentedSecrets,
      );
      const buildNamespace = env.BUILD_RUNNER_KUBE_NAMESPACE;
      expect(buildNamespace).toBe("kiln-builds");
      const isRunner = (s: Obj) =>
        s.kind === "ServiceAccount" && s.name === "kiln-build-runner" && s.namespace === "kiln";
      const bindings = objects.filter(
        (o) =>
          (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
          (o.subjects ?? []).some(isRunner),
      );
      expect(
        bindings.map(
          (b) => `${b.kind} ${b.metadata.namespace}/${b.metadata.name} → ${b.roleRef.kind}`,
        ),
      ).toEqual([`RoleBinding ${buildNamespace}/kiln-build-runner → Role`]);
      const role = objects.find(
        (o) =>
          o.kind === "Role" &&
          o.metadata.name === bindings[0]!.roleRef.name &&
          o.metadata.namespace === buildNamespace,
      );
      expect(role).toBeDefined();
      expect(role!.rules.every((r: Obj) => !r.resourceNames && !r.nonResourceURLs)).toBe(true);
      expect(new Set(ruleTriples(role!.rules))).toEqual(expectedBuildRunnerRules);
    });

    it(`${target}: no other account is bound to anything, no rule uses a wildcard, only the deployer and build-runner mount a token`, () => {
      const objects = rendered.get(target)!;
      const subjects = objects
        .filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")
        .flatMap((b) => (b.subjects ?? []).map((s: Obj) => `${s.kind} ${s.namespace}/${s.name}`));
      expect([...new Set(subjects)].sort()).toEqual([
        "ServiceAccount kiln/kiln-build-runner",
        "ServiceAccount kiln/kiln-deployer",
      ]);
      const roles = objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole");
      expect(
        ruleTriples(roles.flatMap((r) => r.rules ?? [])).filter((t) => t.includes("*")),
      ).toEqual([]);
      const withToken = podTemplates(objects)
        .filter(({ spec }) => {
          const sa = objects.find(
            (o) => o.kind === "ServiceAccount" && o.metadata.name === spec.serviceAccountName,
          );
          return spec.automountServiceAccountToken ?? sa?.automountServiceAccountToken ?? true;
        })
        .map(({ owner }) => owner.metadata.name)
        .sort();
      expect(withToken).toEqual(["kiln-build-runner", "kiln-deployer"]);
    });
  }
});

describe("NATS runs as a 3-node JetStream cluster", () => {
  for (const target of targets) {
    it(`${target}: StatefulSet, headless Service, routes to every node, a PVC for JetStream, probes on /healthz?js-enabled-only=true`, async () => {
      const objects = rendered.get(target)!;
      const sts = objects.find((o) => o.kind === "StatefulSet" && o.metadata.namespace === "kiln")!;
      expect(sts.spec.replicas).toBe(3);
      const headless = objects.find(
        (o) =>
          o.kind === "Service" &&
          o.metadata.name === sts.spec.serviceName &&
          o.metadata.namespace === "kiln",
      );
      expect(headless?.spec.clusterIP).toBe("None");
      expect(headless?.spec.publishNotReadyAddresses).toBe(true);

      const spec = sts.spec.template.spec;
      const nats = spec.containers[0];
      const configVolume = spec.volumes.find((v: Obj) => v.configMap);
      const configMount = nats.volumeMounts.find((m: Obj) => m.name === configVolume.name);
      const configFile = nats.command[nats.command.indexOf("--config") + 1] as string;
      expect(configFile.startsWith(`${configMount.mountPath}/`)).toBe(true);
      const conf = objects.find(
        (o) => o.kind === "ConfigMap" && o.metadata.name === configVolume.configMap.name,
      )!.data[configFile.slice(configMount.mountPath.length + 1)] as string;

      // Debian's nats-server checks the file as the pod's server would read it ($SERVER_NAME from the pod name).
      const dir = await mkdtemp(join(tmpdir(), "kiln-nats-conf-"));
      try {
        writeFileSync(join(dir, "nats.conf"), conf);
        const { stdout, stderr } = await exec("nats-server", ["-t", "-c", join(dir, "nats.conf")], {
          env: { ...process.env, SERVER_NAME: `${sts.metadata.name}-0` },
        });
        expect(stdout + stderr).toMatch(/is valid/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }

      const routes = [...conf.matchAll(/nats:\/\/([^\s:\]]+):(\d+)/g)]
        .map((m) => `${m[1]}:${m[2]}`)
        .sort();
      const clusterPort = nats.ports.find((p: Obj) => p.name === "cluster").containerPort;
      expect(routes).toEqual(
        [0, 1, 2].map((i) => `${sts.metadata.name}-${i}.${headless!.metadata.name}:${clusterPort}`),
      );
      expect(conf).toMatch(/jetstream\s*\{[^}]*store_dir:\s*\/data/);
      expect(conf).toMatch(/server_name:\s*\$SERVER_NAME/);
      expect(
        nats.env.find((e: Obj) => e.name === "SERVER_NAME")?.valueFrom?.fieldRef?.fieldPath,
      ).toBe("metadata.name");

      const claim = sts.spec.volumeClaimTemplates[0];
      expect(nats.volumeMounts.find((m: Obj) => m.name === claim.metadata.name)?.mountPath).toBe(
        "/data",
      );
      expect(claim.spec.resources.requests.storage).toMatch(/^\d+Gi$/);

      const monitorPort = Number(/\bhttp:\s*[\d.]*:(\d+)/.exec(conf)?.[1]);
      for (const kind of ["livenessProbe", "readinessProbe"]) {
        expect(nats[kind]?.httpGet?.path, kind).toBe("/healthz?js-enabled-only=true");
        expect(probePort(nats, nats[kind]), kind).toBe(monitorPort);
      }

      // The services' NATS_URL names a Service in front of these pods, on the client port.
      const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "kiln-config")!;
      const url = new URL(cm.data.NATS_URL);
      const client = objects.find(
        (o) =>
          o.kind === "Service" &&
          o.metadata.name === url.hostname &&
          o.metadata.namespace === "kiln",
      );
      expect(client, `NATS_URL ${cm.data.NATS_URL}`).toBeDefined();
      expect(
        Object.entries(client!.spec.selector).every(
          ([k, v]) => sts.spec.template.metadata.labels[k] === v,
        ),
      ).toBe(true);
      expect(client!.spec.ports.map((p: Obj) => p.port)).toContain(Number(url.port));
      expect(
        objects.some(
          (o) =>
            o.kind === "PodDisruptionBudget" &&
            o.spec.maxUnavailable === 1 &&
            o.spec.selector.matchLabels["app.kubernetes.io/name"] === "nats",
        ),
      ).toBe(true);
    });
  }
});

describe("PostgreSQL is external", () => {
  it("runs no database, reads DATABASE_URL from a Secret, and only the dev overlay carries (placeholder) Secrets", () => {
    for (const target of targets) {
      const objects = rendered.get(target)!;
      const images = podTemplates(objects).flatMap(({ spec }) =>
        allContainers(spec).map((c) => String(c.image)),
      );
      expect(
        images.filter((i) => /postgres/.test(i)),
        target,
      ).toEqual([]);
      for (const { owner, spec } of podTemplates(objects)) {
        for (const c of allContainers(spec)) {
          const db = (c.env ?? []).find((e: Obj) => e.name === "DATABASE_URL");
          if (db)
            expect(db.valueFrom?.secretKeyRef?.name, `${target} ${id(owner)} ${c.name}`).toBe(
              "kiln-database",
            );
        }
      }
      const secrets = objects
        .filter((o) => o.kind === "Secret")
        .map((o) => o.metadata.name)
        .sort();
      if (target === "overlays/dev")
        expect(secrets).toEqual(["kiln-api", "kiln-database", "kiln-image-watcher"]);
      else expect(secrets, `${target} must not overwrite the real Secrets`).toEqual([]);
    }
  });
});
