import { imageChangeKey, type Bus } from "@kiln/bus";
import { recordTagUpdate, type Db, type TagUpdate, type TagUpdateResult } from "@kiln/db";
import type { ImageMetrics } from "@kiln/runtime";
import type { Logger } from "pino";

export interface TagRecorderOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  /** Where committed tag moves are counted. */
  metrics?: ImageMetrics;
}

/**
 * The one way an ImageStream tag moves: a history item in Postgres and an `image.changed`
 * event, or neither when the digest is the tag's current one.
 */
export class TagRecorder {
  private readonly log: Logger;
  constructor(private readonly options: TagRecorderOptions) {
    this.log = options.logger.child({ component: "tag-recorder" });
  }

  async record(update: TagUpdate): Promise<TagUpdateResult> {
    const { bus } = this.options;
    const result = await recordTagUpdate(
      this.options.db,
      update,
      async ({ previousDigest, item }) => {
        // Published inside the transaction (see recordTagUpdate): an event is never lost after
        // a commit, and a retried publish carries the same msg id, which JetStream drops.
        await bus.publish(
          "image.changed",
          imageChangeKey(update.namespace, update.imageStream, update.tag),
          {
            v: 1,
            namespace: update.namespace,
            imageStream: update.imageStream,
            tag: update.tag,
            digest: update.digest,
            imageReference: update.imageReference,
            ...(previousDigest ? { previousDigest } : {}),
            cause: {
              type: update.cause.type,
              ...(update.cause.build ? { build: update.cause.build } : {}),
              ...(update.cause.message ? { message: update.cause.message } : {}),
            },
            at: new Date().toISOString(),
            itemId: item.id,
          },
          { msgId: `${update.namespace}/${update.imageStream}:${update.tag}@${update.digest}` },
        );
      },
    );
    // After the commit: a move that rolled back was no change.
    if (result.changed) this.options.metrics?.changed(update.namespace, update.cause.type);
    this.log.info(
      {
        namespace: update.namespace,
        imageStream: update.imageStream,
        tag: update.tag,
        digest: update.digest,
        cause: update.cause.type,
        changed: result.changed,
      },
      result.changed ? "image stream tag moved" : "image stream tag unchanged",
    );
    return result;
  }
}
