import { Bus, busRoles } from "@kiln/bus";
import { checkDatabase, connectDatabase } from "@kiln/db";
import {
  Deployer,
  DeployRecorder,
  displayUrl,
  HttpDeployTargets,
  KubernetesDeployer,
  KubeWorkloadApi,
} from "@kiln/deployer";
import {
  ConsumerLag,
  createMetricsRegistry,
  DeployMetrics,
  HealthServer,
  runService,
  ServiceHealth,
} from "@kiln/runtime";
import { loadKubeConfig } from "@kiln/runtime/kube";
import { ConfigSchema, SECRET_KEYS } from "./config.js";

// Order: database and bus first, then the deployer (its watches, then its consumer), the health
// server last; shutdown runs in reverse: no more pulling, handlers finish, watches stop, then
// NATS drains and the pool closes.
await runService(
  "deployer",
  { schema: ConfigSchema, secretKeys: SECRET_KEYS },
  async ({ config, logger, shutdown }) => {
    const database = await connectDatabase(config.DATABASE_URL);
    shutdown.add("postgres", () => database.close());
    const postgres = () => checkDatabase(database.db);
    // A handler that fails while PostgreSQL is down is held until it is back (see Bus).
    const bus = await Bus.connectService("deployer", config, logger, postgres);
    shutdown.add("nats", () => bus.drain());
    await bus.waitForStreams("deployer");

    const metrics = createMetricsRegistry();
    new ConsumerLag({ registry: metrics, read: () => bus.pending(busRoles.deployer.consumes) });
    const recorder = new DeployRecorder({
      db: database.db,
      bus,
      logger,
      metrics: new DeployMetrics(metrics),
    });
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
      health: new ServiceHealth({
        live: { nats: () => bus.liveness() },
        ready: { nats: () => bus.readiness(), postgres },
      }),
      metrics,
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
  },
);
