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
 *   parses, and its probes hit /healthz (liveness, startup) and /readyz (readiness) on the port and
 *   address that environment makes it listen on.
 * - Security, RBAC (least privilege, exactly), NATS clustering (its nats.conf checked by Debian's
 *   nats-server).
 * - The bus's identities: each Deployment gets its own NKey seed and no other, NATS's authorization
 *   is the one the bus catalogue generates for those seeds, and the dev overlay's NATS, started
 *   from its rendered config and Secrets, refuses anonymous and plain-text clients and lets each
 *   service in over TLS with the certificate names the pods use.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import {
  busIdentities,
  busNatsUsers,
  createBusCredentials,
  nkeyPublicKey,
  sealCredentials,
  type BusCredentials,
} from "@kiln/bus";
import {
  findBinaries,
  freePort,
  kilnServiceNames,
  ManagedProcess,
  type KilnServiceName,
} from "@kiln/infra";
import { connect as natsConnect, nkeyAuthenticator, type TlsOptions } from "nats";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kiln-services.js";
import { checkSetupBusConfig, runScript, setupBusConfigSchema } from "./kiln-scripts.js";
import { canConnect, type NetworkPolicy, type PodEndpoint } from "./network-policy.js";
import {
  checkConfig,
  configSchema,
  listenHost,
  listenPort,
  mapLimit,
  metricsVariables,
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

/** What a Kiln container runs: a service, `migrate`, or the scheduler pod's `setup-bus`. */
type Entry = KilnEntry | "setup-bus";
const entryConfigSchema = (e: Entry) =>
  e === "setup-bus" ? setupBusConfigSchema() : configSchema(e);
const entryCheckConfig = (e: Entry, env: Record<string, string>) =>
  e === "setup-bus" ? checkSetupBusConfig(env) : checkConfig(e, env);

/** The bus's Secrets (k8s/README.md, scripts/nats-authorization.ts). */
const busSecret = {
  credentials: "kiln-nats-credentials",
  auth: "kiln-nats-auth",
  sealing: "kiln-runner-sealing",
  tls: "kiln-nats-tls",
} as const;

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

/** The api's, for API_AUTH_DELEGATION=kubernetes: reviews of its callers, nothing else. */
const expectedApiRules = new Set([
  "authentication.k8s.io/tokenreviews:create",
  "authorization.k8s.io/subjectaccessreviews:create",
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

/** A Secret's values, from `data` (base64) and `stringData` as the API server merges them. */
const secretData = (s: Obj): Record<string, string> => ({
  ...Object.fromEntries(
    Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, "base64").toString(),
    ]),
  ),
  ...(s.stringData ?? {}),
});

const findObject = (objects: Obj[], kind: string, name: string, namespace = "kiln") =>
  objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (o.metadata.namespace ?? "default") === namespace,
  );

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

/** The files a container sees in its volume mounts: path → content (ConfigMaps and Secrets, `items` honoured). */
function mountedFiles(
  pod: Obj,
  container: Obj,
  objects: Obj[],
  standIns: Obj[],
): {
  files: Map<string, string>;
  sources: Map<string, string>;
  dirs: string[];
  problems: string[];
} {
  const files = new Map<string, string>();
  /** path → `Secret name/key` or `ConfigMap name/key`: where the kubelet takes a file from. */
  const sources = new Map<string, string>();
  const dirs: string[] = [];
  const problems: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v: Obj) => v.name === mount.name);
    dirs.push(mount.mountPath);
    let data: Record<string, string> | undefined;
    let items: { key: string; path: string }[] | undefined;
    let source = "";
    if (volume?.configMap) {
      data = findObject(objects, "ConfigMap", volume.configMap.name)?.data;
      items = volume.configMap.items;
      source = `ConfigMap ${volume.configMap.name}`;
      if (!data) problems.push(`${mount.name}: ConfigMap ${volume.configMap.name} is not rendered`);
    } else if (volume?.secret) {
      const secret =
        findObject(objects, "Secret", volume.secret.secretName) ??
        findObject(standIns, "Secret", volume.secret.secretName);
      data = secret ? secretData(secret) : undefined;
      items = volume.secret.items;
      source = `Secret ${volume.secret.secretName}`;
      if (!data) problems.push(`${mount.name}: Secret ${volume.secret.secretName} is missing`);
    }
    if (!data) continue;
    for (const { key, path } of items ?? Object.keys(data).map((key) => ({ key, path: key }))) {
      if (data[key] === undefined) problems.push(`${mount.name}: no key ${key}`);
      else {
        files.set(posix.join(mount.mountPath, path), data[key]);
        sources.set(posix.join(mount.mountPath, path), `${source}/${key}`);
      }
    }
  }
  return { files, sources, dirs, problems };
}

/**
 * The NATS pod's filesystem under `root`: every mount of its container as a directory there,
 * ConfigMaps and Secrets written out (a Secret the target does not render from `standIns`, the
 * dev overlay's), and the config rewritten to find them there. Returns the config file to start
 * nats-server with and the config as the pod reads it.
 */
async function natsPodFiles(objects: Obj[], root: string, standIns: Obj[]) {
  const sts = objects.find((o) => o.kind === "StatefulSet" && o.metadata.namespace === "kiln")!;
  const pod = sts.spec.template.spec as Obj;
  const container = pod.containers[0] as Obj;
  const configFile = container.command[container.command.indexOf("--config") + 1] as string;
  const { files, sources, dirs, problems } = mountedFiles(pod, container, objects, standIns);
  expect(problems, "the NATS pod's volumes").toEqual([]);
  const conf = files.get(configFile);
  expect(conf, `${configFile} is in a mounted ConfigMap`).toBeDefined();
  // Longest first, so that /etc/nats/conf is not taken for a file below /etc/nats.
  const moved = [...dirs]
    .sort((a, b) => b.length - a.length)
    .reduce(
      (text, dir) =>
        text.replace(
          new RegExp(
            `(?<=[\\s:"'])${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?=[/\\s"']|$)`,
            "gm",
          ),
          join(root, dir),
        ),
      conf!,
    );
  for (const dir of dirs) await mkdir(join(root, dir), { recursive: true });
  for (const [path, content] of files) await writeFile(join(root, path), content);
  await writeFile(join(root, configFile), moved);
  return {
    sts,
    conf: conf!,
    /** The config's path in the pod. */
    podConfigFile: configFile,
    files,
    sources,
    configFile: join(root, configFile),
  };
}

// ---------------------------------------------------------------------------------------------

const rendered = new Map<string, Obj[]>();
const schemas = new Map<Entry, ConfigSchema>();
let documentedSecrets: Obj[] = [];

beforeAll(async () => {
  if (!existsSync(debianKubectl)) {
    throw new Error(
      `${debianKubectl} is missing: run scripts/bootstrap (it unpacks Debian's kubernetes-client into .tools/)`,
    );
  }
  for (const target of targets) rendered.set(target, await render(debianKubectl, target));
  documentedSecrets = parseYaml(readFileSync(secretsExample, "utf8"), secretsExample);
  const entries: Entry[] = [...kilnServiceNames, "migrate", "setup-bus"];
  const results = await mapLimit(entries, 3, (e) => entryConfigSchema(e));
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
    expect(documentedSecrets.map((s) => `${s.kind} ${s.metadata.name}`).sort()).toEqual(
      [
        "kiln-api",
        "kiln-database",
        "kiln-image-watcher",
        "kiln-secrets-key",
        ...Object.values(busSecret),
      ]
        .sort()
        .map((name) => `Secret ${name}`),
    );
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

      // Every container running the Kiln image: the service its first argument names, `migrate`
      // or `setup-bus`.
      const checks: { what: string; entry: Entry; env: Record<string, string> }[] = [];
      for (const d of deployments) {
        for (const c of allContainers(d.spec.template.spec).filter((c) => isKilnImage(c.image))) {
          const entry = c.args?.[0] as Entry;
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
      const results = await mapLimit(unique, 3, (c) => entryCheckConfig(c.entry, c.env));
      const refused = unique.flatMap((c, i) =>
        results[i]!.ok ? [] : [`${c.what}: ${results[i]!.output}`],
      );
      expect(refused).toEqual([]);
    });

    it(`${target}: liveness and startup probes on /healthz, readiness on /readyz, at the address and port each service listens on`, () => {
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
        // Liveness restarts a pod: it must not fail while only a dependency is down, which is
        // what readiness says (the pod leaves its Service and is kept).
        const paths = {
          livenessProbe: "/healthz",
          startupProbe: "/healthz",
          readinessProbe: "/readyz",
        } as const;
        for (const [kind, path] of Object.entries(paths)) {
          const probe = container[kind] as Obj | undefined;
          if (kind === "startupProbe" && !probe) continue;
          expect(probe?.httpGet?.path, `${id(d)} ${kind}`).toBe(path);
          expect(probePort(container, probe), `${id(d)} ${kind} port`).toBe(port);
        }
      }
    });
  }

  for (const target of targets) {
    it(`${target}: each service's pods carry Prometheus's scrape annotations for the port and address it serves /metrics on, which no Service exposes for the ingress services`, () => {
      const objects = rendered.get(target)!;
      const deployments = objects.filter(
        (o) => o.kind === "Deployment" && o.metadata.namespace === "kiln",
      );
      const seen = new Set<string>();
      for (const d of deployments) {
        const container = d.spec.template.spec.containers.find((c: Obj) => isKilnImage(c.image));
        const service = container.args[0] as KilnServiceName;
        seen.add(service);
        const { env } = containerEnv(container, "kiln", objects, documentedSecrets);
        const schema = schemas.get(service)!;
        const port = listenPort(service, env, schema, metricsVariables);
        expect(d.spec.template.metadata.annotations, id(d)).toMatchObject({
          "prometheus.io/scrape": "true",
          "prometheus.io/port": String(port),
          "prometheus.io/path": "/metrics",
        });
        expect(
          (container.ports ?? []).map((p: Obj) => p.containerPort),
          `${id(d)} declares its metrics port`,
        ).toContain(port);
        expect(
          listenHost(service, env, schema, metricsVariables),
          `${id(d)} metrics address`,
        ).toMatch(/^(0\.0\.0\.0|::)$/);
        if (port === listenPort(service, env, schema)) continue;
        // The metrics port of a service the world reaches is no Service's.
        const name = (container.ports as Obj[]).find((p) => p.containerPort === port)?.name;
        for (const svc of objects.filter((o) => o.kind === "Service"))
          for (const p of svc.spec.ports)
            expect([p.targetPort, p.port], `${id(svc)} exposes ${id(d)}'s metrics`).not.toContain(
              name ?? port,
            );
      }
      expect([...seen].sort()).toEqual([...kilnServiceNames].sort());
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

    it(`${target}: the api may create TokenReviews and SubjectAccessReviews, nothing else, and delegates to the cluster`, () => {
      const objects = rendered.get(target)!;
      const isApi = (s: Obj) =>
        s.kind === "ServiceAccount" && s.name === "kiln-api" && s.namespace === "kiln";
      const bindings = objects.filter(
        (o) =>
          (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
          (o.subjects ?? []).some(isApi),
      );
      expect(bindings.map((b) => `${b.kind} ${b.metadata.name} → ${b.roleRef.kind}`)).toEqual([
        "ClusterRoleBinding kiln-api-reviews → ClusterRole",
      ]);
      const role = objects.find(
        (o) => o.kind === "ClusterRole" && o.metadata.name === bindings[0]!.roleRef.name,
      );
      expect(role!.rules.every((r: Obj) => !r.resourceNames && !r.nonResourceURLs)).toBe(true);
      expect(new Set(ruleTriples(role!.rules))).toEqual(expectedApiRules);
      const api = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "kiln-api")!;
      const { env } = containerEnv(
        api.spec.template.spec.containers[0],
        "kiln",
        objects,
        documentedSecrets,
      );
      expect(env.API_AUTH_DELEGATION).toBe("kubernetes");
    });

    it(`${target}: no other account is bound to anything, no rule uses a wildcard, only the api, deployer and build-runner mount a token`, () => {
      const objects = rendered.get(target)!;
      const subjects = objects
        .filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")
        .flatMap((b) => (b.subjects ?? []).map((s: Obj) => `${s.kind} ${s.namespace}/${s.name}`));
      expect([...new Set(subjects)].sort()).toEqual([
        "ServiceAccount kiln/kiln-api",
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
      expect(withToken).toEqual(["kiln-api", "kiln-build-runner", "kiln-deployer"]);
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

      const nats = sts.spec.template.spec.containers[0];
      // Debian's nats-server checks the config as the pod's server would read it, with the files
      // its volumes hold (included authorization, certificates) and $SERVER_NAME from the pod name.
      const dir = await mkdtemp(join(tmpdir(), "kiln-nats-conf-"));
      let conf: string;
      try {
        const pod = await natsPodFiles(objects, dir, rendered.get("overlays/dev")!);
        conf = pod.conf;
        const { stdout, stderr } = await exec("nats-server", ["-t", "-c", pod.configFile], {
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
        [0, 1, 2].map(
          (i) => `${sts.metadata.name}-${i}.${headless!.metadata.name}.kiln.svc:${clusterPort}`,
        ),
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

// ---------------------------------------------------------------------------------------------
// The bus's identities: NKey seeds, NATS's authorization, TLS

/** A container's `secretKeyRef`s: env name → `secret/key`. */
const secretRefs = (c: Obj): [string, string][] =>
  (c.env ?? [])
    .filter((v: Obj) => v.valueFrom?.secretKeyRef)
    .map((v: Obj) => [v.name, `${v.valueFrom.secretKeyRef.name}/${v.valueFrom.secretKeyRef.key}`]);

/** nats.conf without its `#` comment lines. */
const uncommented = (conf: string) =>
  conf
    .split("\n")
    .filter((line) => !/^\s*(#|\/\/)/.test(line))
    .join("\n");

/** The users of a generated auth.conf, which is JSON behind comment lines. */
const authUsers = (authConf: string): unknown[] =>
  (JSON.parse(uncommented(authConf)) as { authorization: { users: unknown[] } }).authorization
    .users;

/** A `name { … }` block of nats.conf (one level of nesting inside, as the cluster's tls). */
function confBlock(conf: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}\\s*\\{((?:[^{}]|\\{[^{}]*\\})*)\\}`, "m").exec(conf)?.[1];
}
const confValue = (block: string | undefined, key: string) =>
  block === undefined
    ? undefined
    : new RegExp(`^\\s*${key}\\s*[:=]\\s*"?([^"\\s]+)"?`, "m").exec(block)?.[1];

/** Kiln containers that connect to NATS: those given a seed. */
function natsClients(objects: Obj[]) {
  return podTemplates(objects)
    .filter(({ owner }) => owner.metadata.namespace === "kiln")
    .flatMap(({ owner, spec }) =>
      allContainers(spec)
        .filter((c) => isKilnImage(c.image))
        .filter((c) =>
          (c.env ?? []).some((v: Obj) =>
            ["NATS_NKEY_SEED", "NATS_ADMIN_NKEY_SEED"].includes(v.name),
          ),
        )
        .map((c) => ({ owner, spec, container: c, what: `${owner.metadata.name}/${c.name}` })),
    );
}

/** A plain-text client: the server's INFO, and whatever it answers CONNECT and PING with before it closes (or 2 s pass). */
function plainTextClient(port: number): Promise<{ info: Obj; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    let received = "";
    let info: Obj | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      if (info) resolve({ info, reply: received });
      else reject(new Error(`no INFO from 127.0.0.1:${port}: ${JSON.stringify(received)}`));
    };
    const timer = setTimeout(done, 2_000);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (!info && received.includes("\r\n")) {
        const line = received.slice(0, received.indexOf("\r\n"));
        info = JSON.parse(line.replace(/^INFO\s+/, "")) as Obj;
        received = received.slice(line.length + 2);
        socket.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
      }
    });
    socket.on("error", (error) => (info ? done() : (clearTimeout(timer), reject(error))));
    socket.on("close", done);
  });
}

describe("NATS lets in only Kiln's identities, over TLS", () => {
  for (const target of targets) {
    it(`${target}: each Deployment reads its own role's seed and no other; the admin seed only setup-bus, the build-pod seed and the private sealing key only the build-runner`, () => {
      const objects = rendered.get(target)!;
      const bus = [busSecret.credentials, busSecret.sealing, busSecret.auth, busSecret.tls];
      const refs: string[] = [];
      for (const { owner, spec } of podTemplates(objects)) {
        for (const c of allContainers(spec)) {
          for (const [name, ref] of secretRefs(c))
            if (bus.some((secret) => ref.startsWith(`${secret}/`)))
              refs.push(`${owner.metadata.name}/${c.name} ${name} ← ${ref}`);
          // Taken whole, a Secret would hand every key to the container.
          for (const from of c.envFrom ?? [])
            expect(bus, `${id(owner)} ${c.name} envFrom`).not.toContain(from.secretRef?.name);
        }
      }
      expect(refs.sort()).toEqual(
        [
          ...kilnServiceNames.map(
            (svc) => `kiln-${svc}/${svc} NATS_NKEY_SEED ← ${busSecret.credentials}/${svc}`,
          ),
          `kiln-scheduler/setup-bus NATS_ADMIN_NKEY_SEED ← ${busSecret.credentials}/admin`,
          `kiln-scheduler/scheduler KILN_RUNNER_SEALING_PUBLIC_KEY ← ${busSecret.sealing}/public.jwk`,
          `kiln-build-runner/build-runner BUILD_RUNNER_SEALING_PRIVATE_KEY ← ${busSecret.sealing}/private.jwk`,
          `kiln-build-runner/build-runner BUILD_RUNNER_KUBE_NATS_NKEY_SEED ← ${busSecret.credentials}/build-pod`,
        ].sort(),
      );
      // Between them, every bus identity: the services' roles, build-pod and admin.
      const identities = refs
        .filter((r) => r.includes(`← ${busSecret.credentials}/`))
        .map((r) => r.slice(r.lastIndexOf("/") + 1));
      expect(identities.sort()).toEqual([...busIdentities].sort());
      // The one pod with the admin seed runs once, and sets the bus up before its service starts.
      const scheduler = findObject(objects, "Deployment", "kiln-scheduler")!;
      expect(scheduler.spec.replicas).toBe(1);
      expect(scheduler.spec.template.spec.initContainers.map((c: Obj) => c.args?.[0])).toContain(
        "setup-bus",
      );
    });

    it(`${target}: nats.conf includes the authorization of kiln-nats-auth and nothing that lets a client in without it, and takes clients and routes over TLS from kiln-nats-tls`, async () => {
      const objects = rendered.get(target)!;
      const dir = await mkdtemp(join(tmpdir(), "kiln-nats-auth-"));
      try {
        const pod = await natsPodFiles(objects, dir, rendered.get("overlays/dev")!);
        const conf = uncommented(pod.conf);
        const [server = "", cluster = ""] = conf.split(/^\s*cluster\s*\{/m);
        // Anonymous clients would get in with `no_auth_user`; other users or accounts beside the
        // generated ones, with `authorization`, `users` or `accounts` here.
        for (const word of ["no_auth_user", "authorization", "users", "accounts", "allow_non_tls"])
          expect(conf, `nats.conf: ${word}`).not.toMatch(new RegExp(`\\b${word}\\b`));
        const includes = [...server.matchAll(/^\s*include\s+"?([^"\s]+)"?/gm)].map((m) =>
          pod.sources.get(posix.join(dirname(pod.podConfigFile), m[1]!)),
        );
        expect(includes).toEqual([`Secret ${busSecret.auth}/auth.conf`]);

        const tls = confBlock(server, "tls");
        expect(tls, "nats.conf: a tls block for clients").toBeDefined();
        const source = (block: string | undefined, key: string) =>
          pod.sources.get(confValue(block, key) ?? "");
        expect(source(tls, "cert_file")).toBe(`Secret ${busSecret.tls}/tls.crt`);
        expect(source(tls, "key_file")).toBe(`Secret ${busSecret.tls}/tls.key`);
        const routeTls = confBlock(cluster, "tls");
        expect(source(routeTls, "cert_file")).toBe(`Secret ${busSecret.tls}/tls.crt`);
        expect(source(routeTls, "key_file")).toBe(`Secret ${busSecret.tls}/tls.key`);
        expect(source(routeTls, "ca_file")).toBe(`Secret ${busSecret.tls}/ca.crt`);
        expect(confValue(routeTls, "verify"), "routes: mutual TLS").toBe("true");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }

      // Each client reaches NATS as tls:// and checks it with the CA of kiln-nats-tls, mounted
      // alone: no Kiln pod ever sees NATS's key.
      const clients = natsClients(objects);
      expect(clients.map((c) => c.what).sort()).toEqual(
        [...kilnServiceNames.map((svc) => `kiln-${svc}/${svc}`), "kiln-scheduler/setup-bus"].sort(),
      );
      for (const { container, spec, what } of clients) {
        const { env } = containerEnv(container, "kiln", objects, documentedSecrets);
        expect(env.NATS_URL, what).toMatch(/^tls:\/\//);
        const { sources } = mountedFiles(spec, container, objects, documentedSecrets);
        expect(sources.get(env.NATS_TLS_CA_FILE ?? ""), `${what} NATS_TLS_CA_FILE`).toBe(
          `Secret ${busSecret.tls}/ca.crt`,
        );
      }
      for (const { owner, spec } of podTemplates(objects)) {
        if (owner.kind === "StatefulSet") continue;
        for (const c of allContainers(spec)) {
          const { sources } = mountedFiles(spec, c, objects, documentedSecrets);
          expect(
            [...sources.values()].filter((v) => v.startsWith(`Secret ${busSecret.tls}/tls.`)),
            `${id(owner)} ${c.name}`,
          ).toEqual([]);
        }
      }
      const runner = findObject(objects, "Deployment", "kiln-build-runner")!;
      const { env } = containerEnv(
        runner.spec.template.spec.containers[0],
        "kiln",
        objects,
        documentedSecrets,
      );
      expect(env.BUILD_RUNNER_KUBE_NATS_URL).toMatch(/^tls:\/\//);
    });

    it(`${target}: every Secret a pod mounts is rendered or documented, with the keys it mounts`, () => {
      const objects = rendered.get(target)!;
      for (const { owner, spec } of podTemplates(objects)) {
        for (const c of allContainers(spec)) {
          const { problems } = mountedFiles(spec, c, objects, documentedSecrets);
          expect(problems, `${id(owner)} ${c.name}`).toEqual([]);
        }
      }
    });
  }

  it("overlays/dev: kiln-nats-auth is what scripts/nats-authorization.ts generates from the seeds of kiln-nats-credentials, one distinct seed per identity", async () => {
    const objects = rendered.get("overlays/dev")!;
    const seeds = secretData(findObject(objects, "Secret", busSecret.credentials)!);
    expect(Object.keys(seeds).sort()).toEqual([...busIdentities].sort());
    const publicKeys = Object.values(seeds).map((seed) => nkeyPublicKey(seed));
    expect(new Set(publicKeys).size).toBe(busIdentities.length);
    const credentials = seeds as BusCredentials;

    const prefix = findObject(objects, "ConfigMap", "kiln-config")!.data.KILN_SUBJECT_PREFIX;
    const authConf = secretData(findObject(objects, "Secret", busSecret.auth)!)["auth.conf"]!;
    const regenerate =
      "npx tsx scripts/nats-authorization.ts --credentials k8s/overlays/dev/secrets.yaml > k8s/overlays/dev/nats-auth.yaml";
    // The permissions each role needs, as the bus catalogue says today: a change there must be
    // regenerated into the overlay (as into every installation's kiln-nats-auth).
    expect(authUsers(authConf), `regenerate it: ${regenerate}`).toEqual(
      busNatsUsers(credentials, prefix),
    );
    // And the script prints exactly that file, from the Secret as `kubectl get -o yaml` gives it.
    const secretsFile = readFileSync(join(k8sDir, "overlays", "dev", "secrets.yaml"), "utf8");
    const printed = await runScript(
      "nats-authorization",
      ["--credentials", "-", "--prefix", prefix, "--conf"],
      {},
      secretsFile,
    );
    expect(printed, printed.stderr).toMatchObject({ code: 0 });
    expect(printed.stdout, `regenerate it: ${regenerate}`).toBe(authConf);
  });

  it("scripts/nats-authorization.ts --new prints the three Secrets k8s/ reads, with fresh seeds and the authorization for exactly them", async () => {
    const printed = await runScript("nats-authorization", ["--new", "--prefix", "kiln"]);
    expect(printed, printed.stderr).toMatchObject({ code: 0 });
    const secrets = parseYaml(printed.stdout, "nats-authorization --new");
    expect(secrets.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      `Secret kiln/${busSecret.credentials}`,
      `Secret kiln/${busSecret.sealing}`,
      `Secret kiln/${busSecret.auth}`,
    ]);
    expect((await Promise.all(secrets.map(schemaErrors))).flat()).toEqual([]);
    const [credentials, sealing, auth] = secrets.map(secretData) as [
      BusCredentials,
      Record<string, string>,
      Record<string, string>,
    ];
    expect(Object.keys(credentials).sort()).toEqual([...busIdentities].sort());
    expect(authUsers(auth["auth.conf"]!)).toEqual(busNatsUsers(credentials, "kiln"));
    // The pair seals: the scheduler's half works, the runner's half is the private one.
    await expect(sealCredentials(sealing["public.jwk"]!, "b1", { push: "{}" })).resolves.toMatch(
      /^ey/,
    );
    expect(JSON.parse(sealing["private.jwk"]!)).toHaveProperty("d");
    const refused = await runScript("nats-authorization", ["--credentials", "-"], {}, "{}");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(busSecret.credentials));
  });

  it("overlays/production/secrets.example.yaml: its placeholders pass the config checks but none can be used (each fails at its first use)", async () => {
    const seeds = secretData(findObject(documentedSecrets, "Secret", busSecret.credentials)!);
    expect(Object.keys(seeds).sort()).toEqual([...busIdentities].sort());
    for (const [identity, seed] of Object.entries(seeds))
      expect(() => nkeyPublicKey(seed), identity).toThrow(/checksum|invalid/i);
    const sealing = secretData(findObject(documentedSecrets, "Secret", busSecret.sealing)!);
    await expect(sealCredentials(sealing["public.jwk"]!, "b1", {})).rejects.toMatchObject({
      reason: "CredentialsUnsealable",
    });
    const auth = secretData(findObject(documentedSecrets, "Secret", busSecret.auth)!);
    expect(authUsers(auth["auth.conf"]!)).toEqual([]);
  });

  describe("overlays/dev: its NATS, run from the rendered config and Secrets", () => {
    let dir: string;
    let server: ManagedProcess | undefined;
    let port: number;
    let pod: Awaited<ReturnType<typeof natsPodFiles>>;
    let objects: Obj[];

    beforeAll(async () => {
      objects = rendered.get("overlays/dev")!;
      dir = await mkdtemp(join(tmpdir(), "kiln-nats-pod-"));
      pod = await natsPodFiles(objects, dir, []);
      port = await freePort();
      // As the pod's server, on loopback and free ports: the command line overrides the
      // listen addresses only. Its routes name hosts that do not resolve here, which leaves
      // JetStream without a quorum but the client port, its TLS and its authorization as they are.
      server = new ManagedProcess({
        name: "nats",
        command: findBinaries(["natsServer"]).natsServer,
        args: [
          "-c",
          pod.configFile,
          "-a",
          "127.0.0.1",
          "-p",
          String(port),
          "-m",
          String(await freePort()),
          "--cluster",
          `nats://127.0.0.1:${await freePort()}`,
        ],
        env: { SERVER_NAME: `${pod.sts.metadata.name}-0` },
        cwd: dir,
        logFile: join(dir, "nats.log"),
      });
      await server.start();
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await plainTextClient(port);
          break;
        } catch (error) {
          if (Date.now() > deadline)
            throw new Error(
              `nats-server did not start: ${readFileSync(join(dir, "nats.log"), "utf8")}`,
              {
                cause: error,
              },
            );
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }, 30_000);

    afterAll(async () => {
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** Connects as a pod does: the CA it mounts, the name it dials (nats.js passes `servername` on to node's TLS; the test dials 127.0.0.1). */
    const connectAs = (options: { seed?: string; ca: string; host: string }) =>
      natsConnect({
        servers: `127.0.0.1:${port}`,
        reconnect: false,
        timeout: 5_000,
        tls: { ca: options.ca, servername: options.host } as TlsOptions,
        ...(options.seed
          ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(options.seed)) }
          : {}),
      });

    const ca = () =>
      pod.files.get(
        [...pod.sources].find(([, source]) => source === `Secret ${busSecret.tls}/ca.crt`)![0],
      )!;

    it("demands TLS of a plain-text client, which never gets an answer", async () => {
      const { info, reply } = await plainTextClient(port);
      expect(info.tls_required).toBe(true);
      expect(info.auth_required).toBe(true);
      expect(reply).not.toMatch(/PONG/);
    });

    it("refuses a client without a seed, and one with a seed it does not know, over TLS", async () => {
      await expect(connectAs({ ca: ca(), host: "kiln-nats" })).rejects.toMatchObject({
        code: "AUTHORIZATION_VIOLATION",
      });
      await expect(
        connectAs({ ca: ca(), host: "kiln-nats", seed: createBusCredentials().admin }),
      ).rejects.toMatchObject({ code: "AUTHORIZATION_VIOLATION" });
    });

    it("lets each Deployment's container in with the seed, CA and host its environment gives it, and the build pods with the build-pod seed at BUILD_RUNNER_KUBE_NATS_URL", async () => {
      const clients = natsClients(objects).map(({ container, spec, what }) => {
        const { env } = containerEnv(container, "kiln", objects, documentedSecrets);
        const { files } = mountedFiles(spec, container, objects, []);
        return {
          what,
          seed: env.NATS_NKEY_SEED ?? env.NATS_ADMIN_NKEY_SEED,
          ca: files.get(env.NATS_TLS_CA_FILE ?? ""),
          host: new URL(env.NATS_URL ?? "").hostname,
          buildPod: env.BUILD_RUNNER_KUBE_NATS_NKEY_SEED
            ? { seed: env.BUILD_RUNNER_KUBE_NATS_NKEY_SEED, url: env.BUILD_RUNNER_KUBE_NATS_URL }
            : undefined,
        };
      });
      const runner = clients.find((c) => c.buildPod);
      expect(runner?.what).toBe("kiln-build-runner/build-runner");
      const attempts = [
        ...clients,
        {
          what: "a binary build's pod",
          seed: runner!.buildPod!.seed,
          ca: runner!.ca,
          host: new URL(runner!.buildPod!.url ?? "").hostname,
        },
      ];
      for (const { what, seed, ca, host } of attempts) {
        expect({ what, seed: typeof seed, ca: typeof ca }).toEqual({
          what,
          seed: "string",
          ca: "string",
        });
        const nc = await connectAs({ seed: seed!, ca: ca!, host }).catch((error: unknown) => {
          throw new Error(`${what} (${host}): ${String(error)}`);
        });
        expect(nc.info?.tls_required, what).toBe(true);
        await nc.close();
      }
    });

    it("holds a certificate of its CA for the Service's names and every route's host, valid for another 30 days", () => {
      const pem = (key: string) =>
        pod.files.get(
          [...pod.sources].find(([, source]) => source === `Secret ${busSecret.tls}/${key}`)![0],
        )!;
      const cert = new X509Certificate(pem("tls.crt"));
      expect(cert.checkIssued(new X509Certificate(pem("ca.crt")))).toBe(true);
      const routes = [...pod.conf.matchAll(/nats:\/\/([^\s:\]]+):\d+/g)].map((m) => m[1]!);
      expect(routes.length).toBe(3);
      // checkHost answers with the name of the certificate that matches (a wildcard's pattern).
      for (const host of ["kiln-nats", "kiln-nats.kiln.svc", ...routes])
        expect(cert.checkHost(host), host).toBeDefined();
      expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 30 * 86_400_000);
    });
  });
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
        expect(secrets).toEqual(
          [
            "kiln-api",
            "kiln-database",
            "kiln-image-watcher",
            "kiln-secrets-key",
            ...Object.values(busSecret),
          ].sort(),
        );
      else expect(secrets, `${target} must not overwrite the real Secrets`).toEqual([]);
    }
  });
});
