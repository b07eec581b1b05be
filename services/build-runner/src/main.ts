import { Bus } from "@kiln/bus";
import { parseUidRanges, UidRangeError } from "@kiln/domain";
import { LocalEngine, NoopEngine } from "@kiln/engine";
import { KubernetesEngine } from "@kiln/kube-engine";
import { KubeConfig } from "@kubernetes/client-node";
import { BuildRunner } from "@kiln/runner";
import { baseConfigShape, HealthServer, runService, type Logger } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
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
   * `kubernetes` engine: the namespace build Jobs run in and the Kiln image of their containers
   * (both required for it). The API server and credentials come from KUBECONFIG, ~/.kube/config,
   * or the pod's service account when the runner runs in the cluster.
   */
  BUILD_RUNNER_KUBE_NAMESPACE: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name").optional(),
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
   * The build container's AppArmor profile: Unconfined by default, as the runtimes' default
   * profiles deny the mounts of buildah's chroot isolation (docs/kubernetes-engine.md).
   */
  BUILD_RUNNER_KUBE_APPARMOR_PROFILE: z.enum(["Unconfined", "RuntimeDefault"]).default("Unconfined"),
  /** How often a running build's Job and pod are read. */
  BUILD_RUNNER_KUBE_POLL_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
  BUILD_RUNNER_MAX_CONCURRENT_BUILDS: z.coerce.number().int().min(1).default(2),
  BUILD_RUNNER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),
  /** Address of /healthz; loopback unless told otherwise (a container sets 0.0.0.0 so the kubelet can probe it). */
  BUILD_RUNNER_HEALTH_HOST: z.string().default("127.0.0.1"),
  BUILD_RUNNER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18083),
  /** Largest unpacked binary input (`start-build --from-*`), files of an archive together. */
  BUILD_RUNNER_MAX_INPUT_BYTES: z.coerce.number().int().positive().default(2 * 1024 ** 3),
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
  /** Registries reached over plain HTTP, comma-separated (`127.0.0.1:15000`). */
  KILN_INSECURE_REGISTRIES: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)),
}).superRefine((c, ctx) => {
  const required = { local: ["BUILD_RUNNER_WORK_DIR", "BUILD_RUNNER_STORAGE_DIR"], kubernetes: ["BUILD_RUNNER_KUBE_NAMESPACE", "BUILD_RUNNER_KUBE_IMAGE"], noop: [] } as const;
  for (const key of required[c.BUILD_RUNNER_ENGINE]) {
    if (!c[key]) ctx.addIssue({ code: "custom", path: [key], message: `required with BUILD_RUNNER_ENGINE=${c.BUILD_RUNNER_ENGINE}` });
  }
});

/** The `kubernetes` engine from the configuration; builds no client connection yet. */
function kubernetesEngine(config: z.output<typeof ConfigSchema>, logger: Logger): KubernetesEngine {
  const kubeConfig = new KubeConfig();
  // KUBECONFIG, else ~/.kube/config, else the service account of the pod the runner runs in.
  kubeConfig.loadFromDefault();
  return new KubernetesEngine({
    kubeConfig,
    namespace: config.BUILD_RUNNER_KUBE_NAMESPACE ?? "",
    image: config.BUILD_RUNNER_KUBE_IMAGE ?? "",
    imagePullPolicy: config.BUILD_RUNNER_KUBE_IMAGE_PULL_POLICY,
    serviceAccountName: config.BUILD_RUNNER_KUBE_SERVICE_ACCOUNT,
    stepCommand: config.BUILD_RUNNER_KUBE_STEP_COMMAND,
    insecureRegistries: config.KILN_INSECURE_REGISTRIES,
    allowedUids: config.BUILD_RUNNER_ALLOWED_UIDS,
    maxInputBytes: config.BUILD_RUNNER_MAX_INPUT_BYTES,
    ttlSecondsAfterFinished: config.BUILD_RUNNER_KUBE_TTL_SECONDS,
    buildAppArmorProfile: config.BUILD_RUNNER_KUBE_APPARMOR_PROFILE,
    binaryInput: { natsUrl: config.BUILD_RUNNER_KUBE_NATS_URL ?? config.NATS_URL, subjectPrefix: config.KILN_SUBJECT_PREFIX },
    pollIntervalMs: config.BUILD_RUNNER_KUBE_POLL_INTERVAL_MS,
    logger: logger.child({ component: "kubernetes-engine" }),
  });
}

await runService("build-runner", ConfigSchema, async ({ config, logger, shutdown }) => {
  const bus = await Bus.connect({ servers: config.NATS_URL, prefix: config.KILN_SUBJECT_PREFIX, name: "kiln-build-runner", logger });
  shutdown.add("nats", () => bus.drain());
  await bus.ensureStreams();
  if (config.BUILD_RUNNER_ENGINE === "noop") logger.warn("engine noop: builds build nothing and push nothing (benchmark mode)");
  const engine =
    config.BUILD_RUNNER_ENGINE === "noop"
      ? new NoopEngine({ buildMs: config.BUILD_RUNNER_NOOP_BUILD_MS })
      : config.BUILD_RUNNER_ENGINE === "kubernetes"
        ? kubernetesEngine(config, logger)
      : new LocalEngine({
          // Present: the schema requires both for the local engine.
          workDir: config.BUILD_RUNNER_WORK_DIR ?? "",
          storageDir: config.BUILD_RUNNER_STORAGE_DIR ?? "",
          insecureRegistries: config.KILN_INSECURE_REGISTRIES,
          maxInputBytes: config.BUILD_RUNNER_MAX_INPUT_BYTES,
          allowedUids: config.BUILD_RUNNER_ALLOWED_UIDS,
        });
  const runner = new BuildRunner({ bus, engine, logger, maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS });
  await runner.start();
  shutdown.add("runner", () => runner.stop(config.BUILD_RUNNER_SHUTDOWN_GRACE_MS));
  const health = new HealthServer({ host: config.BUILD_RUNNER_HEALTH_HOST, port: config.BUILD_RUNNER_HEALTH_PORT, check: () => (bus.isClosed() ? ["nats connection closed"] : []) });
  const healthPort = await health.start();
  shutdown.add("health", () => health.stop());
  return { engine: config.BUILD_RUNNER_ENGINE, healthPort, maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS };
});
