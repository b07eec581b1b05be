import { Counter, type Registry } from "prom-client";

/**
 * Counted by the webhook-receiver, the one service git hosts reach: every delivery it handled,
 * once, with the outcome it answered. A redelivery (a delivery id seen before) is counted
 * under `redelivered`, not as a second build request.
 */
export class WebhookMetrics {
  private readonly deliveries: Counter<"provider" | "outcome">;

  constructor(registry: Registry) {
    this.deliveries = new Counter({
      name: "kiln_webhook_deliveries_total",
      help: "Git webhook deliveries handled, by provider (github, gitlab, bitbucket, gitea, generic) and outcome (build-requested, skipped, rejected, redelivered).",
      labelNames: ["provider", "outcome"],
      registers: [registry],
    });
  }

  delivered(provider: string, outcome: string): void {
    this.deliveries.inc({ provider, outcome });
  }
}

/**
 * Counted by the image-watcher, which alone moves ImageStream tags (a build's push, a registry
 * notification, a scheduled import): a move is counted once its history row is committed, and
 * a digest the tag already has is no change.
 */
export class ImageMetrics {
  private readonly changes: Counter<"namespace" | "cause">;

  constructor(registry: Registry) {
    this.changes = new Counter({
      name: "kiln_image_changes_total",
      help: "ImageStream tags moved to a new digest (each one an image.changed event), by namespace and cause (Build, RegistryPush, Import, Tag).",
      labelNames: ["namespace", "cause"],
      registers: [registry],
    });
  }

  changed(namespace: string, cause: string): void {
    this.changes.inc({ namespace, cause });
  }
}

/**
 * Counted by the deployer, which writes every deploy phase (a row and its event in one
 * transaction): each phase a deploy enters, once it is committed.
 */
export class DeployMetrics {
  private readonly deploys: Counter<"namespace" | "target" | "phase">;

  constructor(registry: Registry) {
    this.deploys = new Counter({
      name: "kiln_deploys_total",
      help: "Deploy phases entered (Pending, Rolling, Complete, Failed, Skipped, Cancelled), by namespace and target kind (Deployment, StatefulSet, DaemonSet, CronJob, HTTP).",
      labelNames: ["namespace", "target", "phase"],
      registers: [registry],
    });
  }

  entered(namespace: string, target: string, phase: string): void {
    this.deploys.inc({ namespace, target, phase });
  }
}
