import { parseUidRanges, UidRangeError } from "@kiln/domain";
import { BuildIsolation, BuildNetwork, StorageDriverChoice } from "@kiln/engine";
import { KubeBuildIsolation } from "@kiln/kube-engine";
import {
  baseConfigShape,
  baseSecretKeys,
  checkRegistryCredentials,
  env,
  registryCredentialsShape,
} from "@kiln/runtime";
import { z } from "zod";

export const ConfigSchema = z
  .object({
    ...baseConfigShape,
    /**
     * `local`: buildah on this host. `noop`: for benchmarks only, builds nothing and reports a
     * made-up digest, so a benchmark measures Kiln's scheduling rather than buildah.
     * `kubernetes`: one Job per build in a namespace (BUILD_RUNNER_KUBE_*; docs/kubernetes-engine.md).
     */
    BUILD_RUNNER_ENGINE: z.enum(["local", "noop", "kubernetes"]).default("local"),
    /** `noop` engine only: how long each pretend build takes. */
    BUILD_RUNNER_NOOP_BUILD_MS: z.coerce.number().int().min(0).default(0),
    /** `local` engine: per-build work dirs and buildah's store (required for it, unused by the others). */
    BUILD_RUNNER_WORK_DIR: z.string().min(1).optional(),
    BUILD_RUNNER_STORAGE_DIR: z.string().min(1).optional(),
    /**
     * `local` engine: how build steps are contained. `oci` (the default and the only safe one):
     * rootless buildah, each RUN step in its own user, mount, PID, IPC, UTS and network namespaces
     * under the OCI runtime. `chroot-unsafe`: buildah's chroot isolation, no security boundary
     * (every build's log says so at its top); never chosen for you.
     */
    BUILD_RUNNER_ISOLATION: z
      .enum([BuildIsolation.Oci, BuildIsolation.ChrootUnsafe])
      .default(BuildIsolation.Oci),
    /** `local` engine, started as root: the unprivileged user the runner becomes and builds run as (scripts/bootstrap creates it). */
    BUILD_RUNNER_BUILD_USER: z.string().min(1).default("kiln-build"),
    /** `local` engine: the OCI runtime (runc works on cgroup v1 and v2 hosts; Debian's crun 1.8 refuses hybrid cgroups). */
    BUILD_RUNNER_OCI_RUNTIME: z.string().min(1).default("runc"),
    /**
     * `local` engine: what RUN steps reach. `egress` (default): the network this host reaches,
     * through slirp4netns, never this host's loopback services. `none`: nothing but their own loopback.
     */
    BUILD_RUNNER_NETWORK: z
      .enum([BuildNetwork.Egress, BuildNetwork.None])
      .default(BuildNetwork.Egress),
    /** `local` engine: `auto` takes overlay where it mounts (checked at start) and says so when it falls back to vfs. */
    BUILD_RUNNER_STORAGE_DRIVER: z
      .enum([StorageDriverChoice.Auto, StorageDriverChoice.Overlay, StorageDriverChoice.Vfs])
      .default(StorageDriverChoice.Auto),
    /**
     * `kubernetes` engine: the namespace build Jobs run in and the Kiln image of their containers
     * (both required for it). The API server and credentials come from KUBECONFIG, ~/.kube/config,
     * or the pod's service account when the runner runs in the cluster.
     */
    BUILD_RUNNER_KUBE_NAMESPACE: z
      .string()
      .max(63)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name")
      .optional(),
    BUILD_RUNNER_KUBE_IMAGE: z.string().min(1).optional(),
    BUILD_RUNNER_KUBE_IMAGE_PULL_POLICY: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
    /** Service account of build pods (its token is not mounted into them). */
    BUILD_RUNNER_KUBE_SERVICE_ACCOUNT: z.string().min(1).optional(),
    /** The step command in the Kiln image, words separated by spaces; `fetch` or `build` is appended. */
    BUILD_RUNNER_KUBE_STEP_COMMAND: z
      .string()
      .default("kiln-build-step")
      .transform((s) => s.split(/\s+/).filter(Boolean))
      .refine((words) => words.length > 0, "must name a command"),
    /** How long a finished build Job (and its pod's logs) stays for `kubectl`. */
    BUILD_RUNNER_KUBE_TTL_SECONDS: z.coerce.number().int().min(0).default(3600),
    /** The NATS URL as build pods reach it, for the uploads of binary builds. @default NATS_URL */
    BUILD_RUNNER_KUBE_NATS_URL: z.string().min(1).optional(),
    /**
     * The `build-pod` bus identity's NKey seed, handed to a binary build's pod in a per-build
     * Secret: it may read uploads and do nothing else on the bus. A secret.
     */
    BUILD_RUNNER_KUBE_NATS_NKEY_SEED: z
      .string()
      .regex(/^SU[A-Z2-7]{56}$/, "must be an NKey user seed (SU…)")
      .optional(),
    /**
     * `kubernetes` engine: how RUN steps are contained inside the build pod. `pod`: they share the
     * build container's namespaces and the unprivileged, NetworkPolicy-fenced pod is their
     * boundary. `oci`: each in its own namespaces under runc, as on one machine; needs a cluster
     * with user namespaces for pods (docs/kubernetes-engine.md), not verified on a cluster here.
     */
    BUILD_RUNNER_KUBE_ISOLATION: z
      .enum([KubeBuildIsolation.Pod, KubeBuildIsolation.Oci])
      .default(KubeBuildIsolation.Pod),
    /**
     * The build container's AppArmor profile: Unconfined by default, as the runtimes' default
     * profiles deny the mounts of buildah's chroot isolation (docs/kubernetes-engine.md).
     */
    BUILD_RUNNER_KUBE_APPARMOR_PROFILE: z
      .enum(["Unconfined", "RuntimeDefault"])
      .default("Unconfined"),
    /** How often a running build's Job and pod are read. */
    BUILD_RUNNER_KUBE_POLL_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
    /** The runners' private sealing key (an X25519 JWK) that opens a build's registry credentials. A secret. */
    BUILD_RUNNER_SEALING_PRIVATE_KEY: env.sealingKey("private"),
    BUILD_RUNNER_MAX_CONCURRENT_BUILDS: z.coerce.number().int().min(1).default(2),
    /**
     * On SIGTERM the runner takes no new build and gives the running ones this long to finish;
     * past it each is stopped (its whole process tree killed, its work dir and containers
     * removed), set Pending and handed back for another runner. The stop as a whole may take
     * 8 s more (the kill and clean-up), so whoever stops the runner must wait longer than both.
     */
    BUILD_RUNNER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),
    /** Address of /healthz; loopback unless told otherwise (a container sets 0.0.0.0 so the kubelet can probe it). */
    BUILD_RUNNER_HEALTH_HOST: z.string().default("127.0.0.1"),
    BUILD_RUNNER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18083),
    /**
     * `local` engine: pulled base, builder and runtime images stay in the store between builds
     * (so the next build from them pulls no layer) up to this many bytes; past it the least
     * recently used are removed after a build.
     */
    BUILD_RUNNER_IMAGE_CACHE_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(20 * 1024 ** 3),
    /**
     * `local` engine: a Docker build whose Dockerfile only places context files on its base
     * (FROM, COPY/ADD, metadata) is written and pushed by Kiln without buildah (layer-append);
     * false sends every build to buildah.
     */
    BUILD_RUNNER_LAYER_APPEND: env.bool(true),
    /** Largest unpacked binary input (`start-build --from-*`), files of an archive together. */
    BUILD_RUNNER_MAX_INPUT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(2 * 1024 ** 3),
    /**
     * Users an S2I assemble may run as (OpenShift's allowed-UIDs rule, s2i `--allowed-uids`):
     * ranges `a-b`, `a-`, `-b`, `a`, comma-separated. The default refuses root and named users,
     * the safe choice since assemble runs code from the repository; `""` allows every user.
     */
    BUILD_RUNNER_ALLOWED_UIDS: z
      .string()
      .default("1-4294967294")
      .transform((s, ctx) => {
        try {
          return parseUidRanges(s);
        } catch (error) {
          if (!(error instanceof UidRangeError)) throw error;
          ctx.addIssue({ code: "custom", message: error.message });
          return z.NEVER;
        }
      }),
    /** Kiln's registry (`host[:port]`): builds pull from and push to it with the account below. */
    KILN_REGISTRY: z.string().min(1).optional(),
    /** This runner's account in Kiln's registry (secret): given to every build for that registry only. */
    ...registryCredentialsShape,
    /** Registries reached over plain HTTP, comma-separated (`127.0.0.1:15000`). */
    KILN_INSECURE_REGISTRIES: z
      .string()
      .default("")
      .transform((s) =>
        s
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
      ),
  })
  .superRefine((c, ctx) => {
    checkRegistryCredentials(c, ctx);
    if (c.KILN_REGISTRY_USERNAME !== undefined && c.KILN_REGISTRY === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["KILN_REGISTRY"],
        message: "required with KILN_REGISTRY_USERNAME: the registry the account is for",
      });
    const required = {
      local: ["BUILD_RUNNER_WORK_DIR", "BUILD_RUNNER_STORAGE_DIR"],
      kubernetes: ["BUILD_RUNNER_KUBE_NAMESPACE", "BUILD_RUNNER_KUBE_IMAGE"],
      noop: [],
    } as const;
    for (const key of required[c.BUILD_RUNNER_ENGINE]) {
      if (!c[key])
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `required with BUILD_RUNNER_ENGINE=${c.BUILD_RUNNER_ENGINE}`,
        });
    }
  });

export type Config = z.output<typeof ConfigSchema>;

/** What the logger redacts wherever it appears, and what is never printed. */
export const SECRET_KEYS = [
  ...baseSecretKeys,
  "BUILD_RUNNER_SEALING_PRIVATE_KEY",
  "BUILD_RUNNER_KUBE_NATS_NKEY_SEED",
  "KILN_REGISTRY_PASSWORD",
] as const satisfies readonly (keyof Config)[];
