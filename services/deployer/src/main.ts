import { Bus } from "@kiln/bus";
import { connectDatabase } from "@kiln/db";
import {
  Deployer,
  DeployRecorder,
  displayUrl,
  HttpDeployTargets,
  KubernetesDeployer,
  KubeWorkloadApi,
  loadKubeConfig,
} from "@kiln/deployer";
import { baseConfigShape, env, HealthServer, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z
  .object({
    ...baseConfigShape,
    DATABASE_URL: z.string().min(1),
    /** Address of /healthz; loopback unless told otherwise (a container sets 0.0.0.0 so the kubelet can probe it). */
    DEPLOYER_HEALTH_HOST: z.string().default("127.0.0.1"),
    DEPLOYER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18085),
    /**
     * The only namespaces whose workloads are watched and patched. Empty (the default): the
     * Kubernetes half stays off even with a kubeconfig, so nothing is patched by accident.
     */
    DEPLOYER_NAMESPACES: env.list(),
    /** A kubeconfig file; unset: the pod's service account in a cluster, else no Kubernetes at all. */
    KUBECONFIG: z.string().optional(),
    /** Longest a rollout may take before its deploy ends Failed (DeadlineExceeded). */
    DEPLOYER_ROLLOUT_DEADLINE_MS: z.coerce.number().int().min(1000).default(600_000),
    /** URLs that get a signed POST for every image change (comma-separated). */
    DEPLOYER_HTTP_TARGETS: env.list(),
    /** HMAC-SHA256 key of the X-Kiln-Signature-256 header; required with DEPLOYER_HTTP_TARGETS. Never logged. */
    DEPLOYER_HTTP_SECRET: z.string().min(16, "at least 16 characters").optional(),
  })
  .superRefine((c, ctx) => {
    for (const url of c.DEPLOYER_HTTP_TARGETS) {
      if (!/^https?:\/\/[^\s]+$/.test(url) || !URL.canParse(url))
        ctx.addIssue({
          code: "custom",
          path: ["DEPLOYER_HTTP_TARGETS"],
          message: `not an http(s) URL: ${displayUrl(url)}`,
        });
    }
    if (c.DEPLOYER_HTTP_TARGETS.length > 0 && !c.DEPLOYER_HTTP_SECRET) {
      ctx.addIssue({
        code: "custom",
        path: ["DEPLOYER_HTTP_SECRET"],
        message: "required when DEPLOYER_HTTP_TARGETS is set: every POST is signed",
      });
    }
  });

// Order: database and bus first, then the deployer (its watches, then its consumer), the health
// server last; shutdown runs in reverse: no more pulling, handlers finish, watches stop, then
// NATS drains and the pool closes.
await runService("deployer", ConfigSchema, async ({ config, logger, shutdown }) => {
  const database = await connectDatabase(config.DATABASE_URL);
  shutdown.add("postgres", () => database.close());
  const bus = await Bus.connect({
    servers: config.NATS_URL,
    prefix: config.KILN_SUBJECT_PREFIX,
    name: "kiln-deployer",
    logger,
    identity: { role: "deployer", nkeySeed: config.NATS_NKEY_SEED },
    tlsCaFile: config.NATS_TLS_CA_FILE,
  });
  shutdown.add("nats", () => bus.drain());
  await bus.waitForStreams("deployer");

  const recorder = new DeployRecorder({ db: database.db, bus, logger });
  // Without a cluster (`kiln up` on a laptop) the deployer still serves the HTTP targets.
  const cluster = loadKubeConfig(config.KUBECONFIG);
  let kubernetes: KubernetesDeployer | null = null;
  if (!cluster)
    logger.info(
      { kubernetes: "off" },
      "kubernetes deploys off: no kubeconfig (set KUBECONFIG or run in a cluster)",
    );
  else if (config.DEPLOYER_NAMESPACES.length === 0)
    logger.info(
      { kubernetes: "off", source: cluster.source },
      "kubernetes deploys off: DEPLOYER_NAMESPACES is empty",
    );
  else {
    kubernetes = new KubernetesDeployer({
      api: new KubeWorkloadApi(cluster.kubeConfig),
      namespaces: config.DEPLOYER_NAMESPACES,
      db: database.db,
      recorder,
      logger,
      rolloutDeadlineMs: config.DEPLOYER_ROLLOUT_DEADLINE_MS,
    });
  }
  const http =
    config.DEPLOYER_HTTP_TARGETS.length > 0 && config.DEPLOYER_HTTP_SECRET
      ? new HttpDeployTargets({
          urls: config.DEPLOYER_HTTP_TARGETS,
          secret: config.DEPLOYER_HTTP_SECRET,
          recorder,
          logger,
        })
      : null;
  const deployer = new Deployer({ bus, logger, kubernetes, http });
  await deployer.start();
  shutdown.add("deployer", () => deployer.stop());

  const health = new HealthServer({
    host: config.DEPLOYER_HEALTH_HOST,
    port: config.DEPLOYER_HEALTH_PORT,
    check: () => (bus.isClosed() ? ["nats connection closed"] : []),
  });
  const healthPort = await health.start();
  shutdown.add("health", () => health.stop());
  return {
    healthPort,
    kubernetes: kubernetes
      ? {
          source: cluster?.source,
          namespaces: config.DEPLOYER_NAMESPACES,
          rolloutDeadlineMs: config.DEPLOYER_ROLLOUT_DEADLINE_MS,
        }
      : "off",
    httpTargets: config.DEPLOYER_HTTP_TARGETS.map(displayUrl),
  };
});
