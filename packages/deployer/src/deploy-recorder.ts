import type { Bus, DeployTargetV1 } from "@kiln/bus";
import {
  beginDeploy,
  updateDeploy,
  type Db,
  type DeployRecord,
  type DeployUpdate,
  type NewDeploy,
} from "@kiln/db";
import type { WorkloadKind } from "@kiln/domain";
import type { DeployMetrics } from "@kiln/runtime";
import type { Logger } from "pino";

export interface DeployRecorderOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  /** Where committed deploy phases are counted. */
  metrics?: DeployMetrics;
}

/**
 * The one way a deploy is recorded or moves: a row in `deploys` and a `deploy.status-changed`
 * event, published inside the transaction (a failed publish rolls the change back, and the
 * retry's msg id `<deployId>:<phase>` is dropped by JetStream if the first publish did land).
 */
export class DeployRecorder {
  private readonly log: Logger;
  constructor(private readonly options: DeployRecorderOptions) {
    this.log = options.logger.child({ component: "deploy-recorder" });
  }

  /** Records a deploy (or finds the one with its key: `created: false`). */
  async begin(deploy: NewDeploy): Promise<{ created: boolean; deploy: DeployRecord }> {
    const result = await this.options.db.transaction(async (tx) => {
      const begun = await beginDeploy(tx, deploy);
      if (begun.created) await this.publish(begun.deploy);
      return begun;
    });
    if (result.created) this.count(result.deploy);
    return result;
  }

  /** Moves a deploy on; null when it had already ended (nothing is written or published then). */
  async transition(deploy: DeployRecord, update: DeployUpdate): Promise<DeployRecord | null> {
    const next = await this.options.db.transaction(async (tx) => {
      const row = await updateDeploy(tx, deploy.id, update);
      if (row) await this.publish(row);
      return row;
    });
    if (!next)
      this.log.debug({ deployId: deploy.id, phase: update.status }, "deploy already ended");
    else this.count(next);
    return next;
  }

  /** A phase committed with its event; a deploy that had already ended moved nowhere. */
  private count(d: DeployRecord): void {
    this.options.metrics?.entered(d.namespace, d.targetKind, d.status);
  }

  private async publish(d: DeployRecord): Promise<void> {
    const target: DeployTargetV1 =
      d.targetKind === "HTTP"
        ? { type: "HTTP", url: d.targetUrl ?? "" }
        : {
            type: "Kubernetes",
            kind: d.targetKind as WorkloadKind,
            namespace: d.targetNamespace ?? "",
            name: d.targetName ?? "",
            containers: d.targetContainers,
          };
    await this.options.bus.publish(
      "deploy.status-changed",
      d.id,
      {
        v: 1,
        deployId: d.id,
        namespace: d.namespace,
        target,
        ...(d.imageStreamTag ? { imageStreamTag: d.imageStreamTag } : {}),
        ...(d.digest ? { digest: d.digest } : {}),
        ...(d.imageReference ? { imageReference: d.imageReference } : {}),
        phase: d.status,
        ...(d.reason ? { reason: d.reason } : {}),
        ...(d.message ? { message: d.message } : {}),
        cause: {
          type: d.causeType,
          ...(d.causeBuild ? { build: d.causeBuild } : {}),
          ...(d.causeMessage ? { message: d.causeMessage } : {}),
        },
        at: new Date().toISOString(),
      },
      { msgId: `${d.id}:${d.status}` },
    );
  }
}
