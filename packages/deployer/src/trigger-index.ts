import type { WorkloadKind, WorkloadTrigger } from "@kiln/domain";

/** A workload that follows ImageStream tags, as its annotation declares. */
export interface FollowingWorkload {
  /** `Deployment/apps/web` */
  key: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  triggers: WorkloadTrigger[];
}

/**
 * ImageStream tag → the workloads that follow it, kept up to date from the workload watches, so
 * an image change finds its followers without asking the Kubernetes API.
 */
export class TriggerIndex {
  private readonly workloads = new Map<string, FollowingWorkload>();
  private readonly byTag = new Map<string, Set<string>>();

  set(workload: FollowingWorkload): void {
    this.remove(workload.key);
    this.workloads.set(workload.key, workload);
    for (const trigger of workload.triggers) {
      let keys = this.byTag.get(trigger.tagKey);
      if (!keys) this.byTag.set(trigger.tagKey, (keys = new Set()));
      keys.add(workload.key);
    }
  }

  remove(key: string): void {
    const old = this.workloads.get(key);
    if (!old) return;
    this.workloads.delete(key);
    for (const trigger of old.triggers) {
      const keys = this.byTag.get(trigger.tagKey);
      keys?.delete(key);
      if (keys?.size === 0) this.byTag.delete(trigger.tagKey);
    }
  }

  get(key: string): FollowingWorkload | undefined {
    return this.workloads.get(key);
  }

  /** The workloads with a trigger on `tagKey` (`namespace/imagestream:tag`). */
  followers(tagKey: string): FollowingWorkload[] {
    return [...(this.byTag.get(tagKey) ?? [])].map((key) => this.workloads.get(key)!);
  }

  get size(): number {
    return this.workloads.size;
  }
}
