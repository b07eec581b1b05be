/** Where a notification came from; the last path segment of `/registry/notifications/<source>`. */
export const NotificationSource = {
  /** CNCF distribution (`registry:2`, Kiln's own registry, GitLab's, …). */
  Distribution: "distribution",
  Harbor: "harbor",
  DockerHub: "dockerhub",
  Quay: "quay",
} as const;
export type NotificationSource = (typeof NotificationSource)[keyof typeof NotificationSource];

export const notificationSources = Object.values(NotificationSource);

/**
 * "Something was pushed to this tag": all a notification is taken for. The watcher resolves the
 * tag's digest from the registry itself before it records anything.
 */
export interface PushHint {
  /** Dedupe key of the event within its source (distribution's `events[].id`, a CloudEvents id). */
  eventId?: string | undefined;
  /** Registry host as the pusher addressed it; absent when the payload does not say. */
  registry?: string | undefined;
  /** `namespace/name` */
  repository: string;
  tag: string;
  /** The digest the notification names, when it names one (only a hint: the tag may have moved on). */
  digest?: string | undefined;
}

/** What a parser made of one request body. */
export interface ParsedNotification {
  hints: PushHint[];
  /** Events that are no tag push (pulls, blobs, deletes, pushes by digest only); counted, not handled. */
  ignored: number;
}
