import type { Bus, Consumption, DeliveryContext, ImageChangedV1 } from "@kiln/bus";
import type { Logger } from "pino";
import type { HttpDeployTargets } from "./http-targets.js";
import { KeyedLock } from "./keyed-lock.js";
import type { KubernetesDeployer } from "./kubernetes-deployer.js";

export interface DeployerOptions {
  bus: Bus;
  logger: Logger;
  /** The Kubernetes half; null when there is no cluster (no kubeconfig). */
  kubernetes: KubernetesDeployer | null;
  /** The generic HTTP targets; null when none are configured. */
  http: HttpDeployTargets | null;
  /** Image changes handled at once (of different tags; one tag's changes go in order). @default 8 */
  maxConcurrent?: number;
}

/**
 * The deployer service's core: consumes `image.changed` (durable consumer
 * `deployer-image-changed`) and hands each change to the Kubernetes half and the HTTP targets.
 * Changes of one tag are handled one after the other, in stream order, so an older image never
 * lands after a newer one; different tags go in parallel. A handler returns (ack) once every
 * target is patched or POSTed and recorded; rollouts are followed after that.
 */
export class Deployer {
  private consumption: Consumption | undefined;
  private readonly tagLocks = new KeyedLock();
  private readonly log: Logger;

  constructor(private readonly options: DeployerOptions) {
    this.log = options.logger.child({ component: "deployer" });
  }

  async start(): Promise<void> {
    this.options.kubernetes?.start();
    this.consumption = await this.options.bus.consume(
      "deployer-image-changed",
      (change, ctx) => this.handle(change, ctx),
      {
        maxConcurrent: this.options.maxConcurrent ?? 8,
      },
    );
  }

  /** Stops pulling, lets handlers in flight finish, then stops the watches. */
  async stop(): Promise<void> {
    await this.consumption?.stop();
    await this.options.kubernetes?.stop();
  }

  private handle(change: ImageChangedV1, ctx: DeliveryContext): Promise<void> {
    return this.tagLocks.run(ctx.key, async () => {
      const { kubernetes, http } = this.options;
      const results = await Promise.allSettled([
        kubernetes?.onImageChanged(change),
        http?.onImageChanged(change, ctx.working),
      ]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) {
        this.log.warn(
          { imageTag: ctx.key, digest: change.digest, err: failed.reason },
          "image change not fully deployed; will retry",
        );
        throw failed.reason;
      }
    });
  }
}
