import type {
  V1Container,
  V1EnvVar,
  V1Job,
  V1ResourceRequirements,
  V1Secret,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { BuildJob } from "@kiln/domain";
import { labelValueFor } from "./names.js";
import { ContainerName } from "./termination.js";

/**
 * The Job of one build, as pure data: everything the `kubernetes` engine sends to the API
 * server is decided here, so the pod's security posture is unit-tested line by line.
 */

/** Labels every build Job and pod carries; `kiln.dev/build-id` and `kiln.dev/job` are what the engine selects on. */
export const KubeLabel = {
  Build: "kiln.dev/build",
  BuildConfig: "kiln.dev/buildconfig",
  Namespace: "kiln.dev/namespace",
  BuildId: "kiln.dev/build-id",
  Job: "kiln.dev/job",
  ManagedBy: "app.kubernetes.io/managed-by",
  Component: "app.kubernetes.io/component",
} as const;

/** The exact (uncut) names, for a reader of `kubectl describe`. */
export const KubeAnnotation = {
  BuildName: "kiln.dev/build-name",
  BuildConfigName: "kiln.dev/buildconfig-name",
  BuildNamespace: "kiln.dev/build-namespace",
  BuildNumber: "kiln.dev/build-number",
} as const;

/** Where things are inside the pod. The step command reads them from its environment (`StepEnv`). */
export const PodPath = {
  /** Shared by both containers (an emptyDir): the fetched source in `src/`, the revision, the build's files. */
  workspace: "/workspace",
  /** buildah's store (an emptyDir, the build container only): vfs copies whole layers, so this is where the disk goes. */
  storage: "/var/lib/kiln/storage",
  /** An emptyDir for HOME and TMPDIR, so the fetch container's root filesystem can be read-only. */
  tmp: "/tmp",
  /** The per-build registry credentials, mounted from their Secrets into the build container only. */
  pullAuth: "/var/run/kiln/pull",
  pushAuth: "/var/run/kiln/push",
  /** Binary builds: the `build-pod` NKey seed, mounted from its Secret into the fetch container only. */
  busAuth: "/var/run/kiln/bus",
  terminationLog: "/dev/termination-log",
} as const;

/** The environment the step command reads (`kiln-build-step fetch|build`). */
export const StepEnv = {
  /** `{id, namespace, name, spec}` of the build as JSON (no credentials: those are files). */
  Build: "KILN_BUILD",
  WorkDir: "KILN_WORK_DIR",
  StorageDir: "KILN_STORAGE_DIR",
  InsecureRegistries: "KILN_INSECURE_REGISTRIES",
  AllowedUids: "KILN_ALLOWED_UIDS",
  MaxInputBytes: "KILN_MAX_INPUT_BYTES",
  PullAuthFile: "KILN_PULL_AUTH_FILE",
  PushAuthFile: "KILN_PUSH_AUTH_FILE",
  /** Binary builds: the init container reads the upload from the bus's object store itself. */
  NatsUrl: "KILN_NATS_URL",
  SubjectPrefix: "KILN_SUBJECT_PREFIX",
  /** The file holding the `build-pod` identity's NKey seed: it may read uploads and nothing else. */
  NatsSeedFile: "KILN_NATS_NKEY_SEED_FILE",
  /** The file holding the CA of NATS's TLS certificate, when NATS speaks TLS. */
  NatsTlsCaFile: "KILN_NATS_TLS_CA_FILE",
  /** Where the step writes its report. @default /dev/termination-log */
  TerminationLog: "KILN_TERMINATION_LOG",
  /** How the build container contains RUN steps (`oci`, `chroot-unsafe`); see docs/kubernetes-engine.md. */
  Isolation: "KILN_BUILD_ISOLATION",
  /** The RUN steps' network: `pod` (the pod's own, fenced by NetworkPolicies) or `none`. */
  Network: "KILN_BUILD_NETWORK",
  /** `auto`, `overlay` or `vfs`. */
  StorageDriver: "KILN_BUILD_STORAGE_DRIVER",
} as const;

/** See `JobManifestOptions.isolation`. */
export const KubeBuildIsolation = { Pod: "pod", Oci: "oci" } as const;
export type KubeBuildIsolation = (typeof KubeBuildIsolation)[keyof typeof KubeBuildIsolation];

/** The file name a `kubernetes.io/dockerconfigjson` Secret keeps its config under. */
export const dockerConfigJsonKey = ".dockerconfigjson";

export interface JobManifestOptions {
  /** The Kubernetes namespace build Jobs run in. */
  namespace: string;
  /** The Kiln image both containers run (node, git, buildah, skopeo, the step command). */
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never" | undefined;
  /** The service account of build pods whose BuildConfig names none (its token is not mounted: a build needs no API access). */
  serviceAccountName?: string | undefined;
  /** The step command in the Kiln image; `fetch` or `build` is appended. */
  stepCommand: readonly string[];
  /** Registries reached over plain HTTP (per registry, as the local engine does). */
  insecureRegistries: readonly string[];
  /** The allowed-UIDs rule for S2I assemble users, formatted (`1-4294967294`). */
  allowedUids: string;
  /** Largest unpacked binary input. */
  maxInputBytes: number;
  /** How long a finished Job (and its pod and logs) is kept for a look with kubectl. */
  ttlSecondsAfterFinished: number;
  /**
   * The user both containers run as. The Kiln image must give it subordinate ID ranges in
   * /etc/subuid and /etc/subgid, which buildah maps into its user namespace. @default 1000
   */
  runAsUser?: number | undefined;
  /**
   * The build container's AppArmor profile. `Unconfined` (default) because the runtimes'
   * default profiles deny `mount`, and buildah's chroot isolation bind-mounts /dev, /proc and
   * /sys into each RUN step's root inside its own user and mount namespaces. Nodes without
   * AppArmor ignore it. `RuntimeDefault` for clusters that give such pods a custom profile by policy.
   */
  buildAppArmorProfile?: "Unconfined" | "RuntimeDefault" | undefined;
  /**
   * How RUN steps are contained inside the build pod. `pod` (default): they share the build
   * container's namespaces (buildah's chroot isolation), and the unprivileged, NetworkPolicy-fenced
   * pod is their boundary. `oci`: each step in its own user, mount, PID, IPC and UTS namespaces
   * under runc, as on one machine; the pod runs in a user namespace of its own (`hostUsers:
   * false`) with an unmasked /proc, which needs a cluster with user namespaces (docs/kubernetes-engine.md).
   */
  isolation?: KubeBuildIsolation | undefined;
  /**
   * Binary builds: where the init container reads the upload (the bus's object store), and the
   * seed of the `build-pod` bus identity it connects with (given to the pod in a per-build Secret).
   */
  binaryInput?: BinaryInputAccess | undefined;
}

export type BinaryInputAccess = {
  natsUrl: string;
  subjectPrefix: string;
  nkeySeed?: string;
  /** The CA (PEM) of NATS's TLS certificate, handed to the pod beside the seed. */
  tlsCa?: string;
};

/** The keys of the seed and of NATS's CA in a build's bus Secret. */
const nkeySeedKey = "nkey-seed";
const tlsCaKey = "ca.crt";

/** One build as the manifest needs it. */
export type ManifestBuild = Pick<BuildJob, "id" | "namespace" | "name" | "spec">;

/** The pull and push Secrets of one build's Job (`<job>-pull`, `<job>-push`). */
export function authSecretNames(jobName: string): { pull: string; push: string; bus: string } {
  return { pull: `${jobName}-pull`, push: `${jobName}-push`, bus: `${jobName}-bus` };
}

/** Whether a build's pod connects to the bus (a binary build, with a seed to connect with). */
function busSeedFor(build: ManifestBuild, options: Pick<JobManifestOptions, "binaryInput">) {
  return build.spec.binaryInput ? options.binaryInput?.nkeySeed : undefined;
}

/** Labels of a build's Job, pod and Secrets. */
export function buildLabels(build: ManifestBuild, jobName: string): Record<string, string> {
  return {
    [KubeLabel.Build]: labelValueFor(build.name),
    [KubeLabel.BuildConfig]: labelValueFor(build.spec.buildConfig),
    [KubeLabel.Namespace]: labelValueFor(build.namespace),
    [KubeLabel.BuildId]: labelValueFor(build.id),
    [KubeLabel.Job]: jobName,
    [KubeLabel.ManagedBy]: "kiln",
    [KubeLabel.Component]: "build",
  };
}

/**
 * The Job of one build: an init container fetches the source into the shared workspace, the
 * build container builds it with buildah and pushes by digest. Both run the Kiln image's step
 * command, which is the local engine's own code (`LocalEngine.fetch` and `.buildAndPush`), so a
 * build is the same whichever engine runs it.
 *
 * Security posture (asserted by job-manifest.test.ts): no privileged container, no host
 * namespaces, no hostPath, no Docker socket, no service-account token, non-root user, the
 * runtime's default seccomp profile, every capability dropped. The build container alone keeps
 * SETUID and SETGID and may escalate, for the reason given at `buildSecurityContext`.
 */
export function buildJobManifest(
  build: ManifestBuild,
  jobName: string,
  credentials: { pull: boolean; push: boolean },
  options: JobManifestOptions,
): V1Job {
  const labels = buildLabels(build, jobName);
  const uid = options.runAsUser ?? 1000;
  const oci = options.isolation === KubeBuildIsolation.Oci;
  const secrets = authSecretNames(jobName);
  const busSeed = busSeedFor(build, options);
  const resources = containerResources(build);
  const serviceAccountName = build.spec.serviceAccount ?? options.serviceAccountName;
  const common: V1EnvVar[] = [
    {
      name: StepEnv.Build,
      value: JSON.stringify({
        id: build.id,
        namespace: build.namespace,
        name: build.name,
        spec: build.spec,
      }),
    },
    { name: StepEnv.WorkDir, value: PodPath.workspace },
    { name: "HOME", value: PodPath.tmp },
    { name: "TMPDIR", value: PodPath.tmp },
  ];
  const workspace: V1VolumeMount = { name: "workspace", mountPath: PodPath.workspace };
  const tmp: V1VolumeMount = { name: "tmp", mountPath: PodPath.tmp };

  const fetch: V1Container = {
    name: ContainerName.Fetch,
    image: options.image,
    ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
    command: [...options.stepCommand, "fetch"],
    env: [
      ...common,
      { name: StepEnv.MaxInputBytes, value: String(options.maxInputBytes) },
      ...(build.spec.binaryInput && options.binaryInput
        ? [
            { name: StepEnv.NatsUrl, value: options.binaryInput.natsUrl },
            { name: StepEnv.SubjectPrefix, value: options.binaryInput.subjectPrefix },
          ]
        : []),
      ...(busSeed
        ? [{ name: StepEnv.NatsSeedFile, value: `${PodPath.busAuth}/${nkeySeedKey}` }]
        : []),
      ...(busSeed && options.binaryInput?.tlsCa
        ? [{ name: StepEnv.NatsTlsCaFile, value: `${PodPath.busAuth}/${tlsCaKey}` }]
        : []),
    ],
    volumeMounts: [
      workspace,
      tmp,
      ...(busSeed ? [{ name: "bus-auth", mountPath: PodPath.busAuth, readOnly: true }] : []),
    ],
    ...(resources ? { resources } : {}),
    terminationMessagePath: PodPath.terminationLog,
    terminationMessagePolicy: "File",
    // git and node need nothing beyond the user's own files: no capability, no escalation.
    securityContext: {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
  };

  const buildContainer: V1Container = {
    name: ContainerName.Build,
    image: options.image,
    ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
    command: [...options.stepCommand, "build"],
    env: [
      ...common,
      { name: StepEnv.StorageDir, value: PodPath.storage },
      { name: StepEnv.InsecureRegistries, value: options.insecureRegistries.join(",") },
      { name: StepEnv.AllowedUids, value: options.allowedUids },
      ...(credentials.pull
        ? [{ name: StepEnv.PullAuthFile, value: `${PodPath.pullAuth}/${dockerConfigJsonKey}` }]
        : []),
      ...(credentials.push
        ? [{ name: StepEnv.PushAuthFile, value: `${PodPath.pushAuth}/${dockerConfigJsonKey}` }]
        : []),
      { name: StepEnv.Isolation, value: oci ? "oci" : "chroot-unsafe" },
      { name: StepEnv.Network, value: "pod" },
    ],
    volumeMounts: [
      workspace,
      tmp,
      { name: "storage", mountPath: PodPath.storage },
      ...(credentials.pull
        ? [{ name: "pull-auth", mountPath: PodPath.pullAuth, readOnly: true }]
        : []),
      ...(credentials.push
        ? [{ name: "push-auth", mountPath: PodPath.pushAuth, readOnly: true }]
        : []),
    ],
    ...(resources ? { resources } : {}),
    terminationMessagePath: PodPath.terminationLog,
    terminationMessagePolicy: "File",
    securityContext: oci
      ? ociBuildSecurityContext()
      : buildSecurityContext(options.buildAppArmorProfile ?? "Unconfined"),
  };

  const volumes: V1Volume[] = [
    { name: "workspace", emptyDir: {} },
    { name: "tmp", emptyDir: {} },
    { name: "storage", emptyDir: {} },
    // 0440 and the pod's fsGroup: readable by the build user, by nobody else.
    ...(credentials.pull
      ? [{ name: "pull-auth", secret: { secretName: secrets.pull, defaultMode: 0o440 } }]
      : []),
    ...(credentials.push
      ? [{ name: "push-auth", secret: { secretName: secrets.push, defaultMode: 0o440 } }]
      : []),
    ...(busSeed
      ? [{ name: "bus-auth", secret: { secretName: secrets.bus, defaultMode: 0o440 } }]
      : []),
  ];

  const deadline = build.spec.completionDeadlineSeconds;
  const appArmor = options.buildAppArmorProfile ?? "Unconfined";
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: jobName,
      namespace: options.namespace,
      labels,
      annotations: {
        [KubeAnnotation.BuildName]: build.name,
        [KubeAnnotation.BuildConfigName]: build.spec.buildConfig,
        [KubeAnnotation.BuildNamespace]: build.namespace,
        [KubeAnnotation.BuildNumber]: String(build.spec.number),
      },
    },
    spec: {
      // One attempt: a failed build is the user's to start again, and a retried pod would
      // build the same broken input twice. Redelivery after a lost runner is the bus's job.
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      // OpenShift's completionDeadlineSeconds is the Job's activeDeadlineSeconds: counted from
      // the Job's start, the Job fails with reason DeadlineExceeded and its pod is killed.
      ...(deadline ? { activeDeadlineSeconds: deadline } : {}),
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      template: {
        metadata: {
          labels,
          // Clusters before 1.30 know the build container's AppArmor profile only by this annotation.
          annotations: {
            [`container.apparmor.security.beta.kubernetes.io/${ContainerName.Build}`]:
              appArmor === "Unconfined" ? "unconfined" : "runtime/default",
          },
        },
        spec: {
          restartPolicy: "Never",
          // The BuildConfig's spec.serviceAccount, as OpenShift's build pod runs as it.
          ...(serviceAccountName ? { serviceAccountName } : {}),
          // A build talks to git and registries, never to the Kubernetes API.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // A user namespace of the pod's own: its uid 0 (the build container's) is an
          // unprivileged uid on the node, and /proc can be unmasked for runc's own procfs.
          ...(oci ? { hostUsers: false } : {}),
          hostNetwork: false,
          hostPID: false,
          hostIPC: false,
          ...(build.spec.nodeSelector && Object.keys(build.spec.nodeSelector).length > 0
            ? { nodeSelector: { ...build.spec.nodeSelector } }
            : {}),
          securityContext: {
            runAsNonRoot: true,
            runAsUser: uid,
            runAsGroup: uid,
            fsGroup: uid,
            seccompProfile: { type: "RuntimeDefault" },
          },
          // On cancel, buildah gets SIGTERM and the step command kills its RUN steps; 10 s is plenty.
          terminationGracePeriodSeconds: 10,
          initContainers: [fetch],
          containers: [buildContainer],
          volumes,
        },
      },
    },
  };
}

/**
 * The build container's security context: unprivileged, but able to start rootless buildah.
 *
 * buildah runs as the non-root build user and, as rootless buildah does, enters a user
 * namespace of its own in which it is root over a range of subordinate IDs; RUN steps run there
 * with chroot isolation on the vfs driver (no overlay, no /dev/fuse, no SYS_ADMIN on the node).
 * Mapping that range is done by the setuid (or file-capability) helpers `newuidmap` and
 * `newgidmap`, which need CAP_SETUID and CAP_SETGID. Hence:
 * - `allowPrivilegeEscalation: true`: with it false the kernel sets no_new_privs, the helpers
 *   cannot gain their capabilities, and buildah fails with "cannot set up namespace using
 *   newuidmap". It lets only those helpers gain CAP_SETUID/CAP_SETGID, nothing else (below).
 * - capabilities: drop ALL, add SETUID and SETGID: the bounding set holds only what the helpers
 *   need, so even a setuid-root binary in the image cannot gain anything more.
 * - seccomp stays RuntimeDefault (from the pod): the runtimes' default profiles allow creating a
 *   user namespace (clone/unshare with CLONE_NEWUSER), which is all buildah needs of it.
 * - AppArmor: see `JobManifestOptions.buildAppArmorProfile`.
 * The root filesystem stays writable: rootless buildah keeps state under $HOME and
 * $XDG_RUNTIME_DIR; all of it goes with the pod.
 */
function buildSecurityContext(
  appArmor: "Unconfined" | "RuntimeDefault",
): V1Container["securityContext"] {
  return {
    privileged: false,
    allowPrivilegeEscalation: true,
    capabilities: { drop: ["ALL"], add: ["SETUID", "SETGID"] },
    appArmorProfile: { type: appArmor },
  };
}

/**
 * The build container's security context under `oci` isolation: root, but root of the pod's own
 * user namespace (`hostUsers: false`), where buildah runs as it does as root and runc starts a
 * user, mount, PID, IPC and UTS namespace for every RUN step inside it. runc mounts a procfs for
 * each step, which the kernel refuses while the pod's /proc has masked paths (`procMount:
 * Unmasked`, allowed only in a user namespace), and makes mounts and namespaces the runtimes'
 * default seccomp profiles refuse to a container without CAP_SYS_ADMIN on the node (Unconfined;
 * the user namespace keeps those to the pod). No capability beyond what root in that namespace
 * has; no privilege escalation (nothing setuid is needed).
 */
function ociBuildSecurityContext(): V1Container["securityContext"] {
  return {
    privileged: false,
    allowPrivilegeEscalation: false,
    runAsUser: 0,
    runAsGroup: 0,
    runAsNonRoot: false,
    procMount: "Unmasked",
    seccompProfile: { type: "Unconfined" },
    appArmorProfile: { type: "Unconfined" },
  };
}

/** The BuildConfig's `spec.resources`, for both containers (they run one after the other, so the pod asks for it once). */
function containerResources(build: ManifestBuild): V1ResourceRequirements | null {
  const r = build.spec.resources;
  if (!r || (!r.limits && !r.requests)) return null;
  return {
    ...(r.limits ? { limits: { ...r.limits } } : {}),
    ...(r.requests ? { requests: { ...r.requests } } : {}),
  };
}

/**
 * The per-build registry credentials as `kubernetes.io/dockerconfigjson` Secrets, owned by the
 * build's Job so that the garbage collector removes them with it; the engine also deletes them
 * as soon as the build ends. One Secret per direction, so a push credential is never offered to
 * a base image's registry (as the local engine's separate auth files).
 */
export function authSecretManifests(
  build: ManifestBuild,
  job: { name: string; uid: string },
  credentials: BuildJob["credentials"],
  options: Pick<JobManifestOptions, "namespace" | "binaryInput">,
): V1Secret[] {
  const names = authSecretNames(job.name);
  const labels = buildLabels(build, job.name);
  const secret = (
    name: string,
    data: Record<string, string>,
    type = "kubernetes.io/dockerconfigjson",
  ): V1Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    type,
    metadata: {
      name,
      namespace: options.namespace,
      labels,
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: job.name, uid: job.uid, controller: true },
      ],
    },
    // Immutable: nothing ever changes a build's credentials, and the kubelet need not watch them.
    immutable: true,
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString("base64")]),
    ),
  });
  const busSeed = busSeedFor(build, options);
  return [
    ...(credentials?.pull ? [secret(names.pull, { [dockerConfigJsonKey]: credentials.pull })] : []),
    ...(credentials?.push ? [secret(names.push, { [dockerConfigJsonKey]: credentials.push })] : []),
    ...(busSeed
      ? [
          secret(
            names.bus,
            {
              [nkeySeedKey]: busSeed,
              ...(options.binaryInput?.tlsCa ? { [tlsCaKey]: options.binaryInput.tlsCa } : {}),
            },
            "Opaque",
          ),
        ]
      : []),
  ];
}
