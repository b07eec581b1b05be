import { timingSafeEqual } from "node:crypto";
import { listAllImageStreams, markNotificationSeen, notificationSeen, type Db } from "@kiln/db";
import type { Logger } from "pino";
import { ManifestNotFoundError, NotificationParseError } from "./errors.js";
import { digestReference } from "@kiln/registry";
import type { ManifestResolver } from "./manifest-resolver.js";
import { parseNotification } from "./notifications/parse.js";
import type { NotificationSource } from "./notifications/push-hint.js";
import type { TagRecorder } from "@kiln/image-tags";
import { targetsForPush, type TargetOptions } from "./tag-targets.js";

export interface NotificationReceiverOptions extends TargetOptions {
  db: Db;
  recorder: TagRecorder;
  resolver: ManifestResolver;
  logger: Logger;
  /**
   * Bearer token per source (`Authorization: Bearer <token>`, or `?token=` for Docker Hub,
   * which cannot send headers). A source without one accepts any caller.
   */
  tokens: Partial<Record<NotificationSource, string>>;
}

export interface NotificationRequest {
  source: NotificationSource;
  contentType: string | undefined;
  authorization: string | undefined;
  queryToken: string | null;
  body: string;
}

/** The answer to the registry. A 5xx makes distribution retry the batch (in order, later). */
export interface NotificationResponse {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Registry notification → ImageStream tags. A notification is only a hint: for each tag push
 * the watcher asks the registry for the tag's digest and records that. An event id seen
 * before is skipped; ids are stored only after their event was handled, so a failure answered
 * 502 is redone in full when the registry retries.
 */
export class NotificationReceiver {
  private readonly log: Logger;
  constructor(private readonly options: NotificationReceiverOptions) {
    this.log = options.logger.child({ component: "notification-receiver" });
  }

  async receive(request: NotificationRequest): Promise<NotificationResponse> {
    const token = this.options.tokens[request.source];
    if (token !== undefined && !tokenMatches(token, request)) {
      return {
        status: 401,
        body: { error: "Unauthorized", message: "a valid bearer token is required" },
      };
    }
    let parsed;
    try {
      parsed = parseNotification(request.source, request.contentType, request.body);
    } catch (error) {
      if (error instanceof NotificationParseError)
        return { status: 400, body: { error: error.reason, message: error.message } };
      throw error;
    }
    const counts = {
      hints: parsed.hints.length,
      ignored: parsed.ignored,
      duplicates: 0,
      recorded: 0,
      changed: 0,
    };
    if (parsed.hints.length === 0) return { status: 200, body: counts };
    const streams = await listAllImageStreams(this.options.db);
    for (const hint of parsed.hints) {
      if (
        hint.eventId !== undefined &&
        (await notificationSeen(this.options.db, request.source, hint.eventId))
      ) {
        counts.duplicates += 1;
        continue;
      }
      for (const target of targetsForPush(hint, streams, this.options)) {
        let digest: string;
        try {
          digest = await this.options.resolver.resolve(target.source, {
            insecure: target.insecure,
          });
        } catch (error) {
          if (error instanceof ManifestNotFoundError) {
            // Deleted again since the push: nothing to follow.
            this.log.warn({ image: error.image }, "pushed tag no longer in the registry");
            continue;
          }
          this.log.warn({ err: error, source: request.source }, "could not resolve a pushed tag");
          return {
            status: 502,
            body: {
              error: "ManifestUnavailable",
              message: error instanceof Error ? error.message : "registry unreachable",
              ...counts,
            },
          };
        }
        const result = await this.options.recorder.record({
          namespace: target.namespace,
          imageStream: target.imageStream,
          tag: target.tag,
          digest,
          imageReference: digestReference(target.source, digest),
          cause: {
            type: "RegistryPush",
            message: `pushed to ${target.source.registry}/${target.source.repository}:${target.source.tag}`,
          },
        });
        counts.recorded += 1;
        if (result.changed) counts.changed += 1;
      }
      if (hint.eventId !== undefined)
        await markNotificationSeen(this.options.db, request.source, hint.eventId);
    }
    this.log.info({ source: request.source, ...counts }, "registry notification handled");
    return { status: 200, body: counts };
  }
}

function tokenMatches(expected: string, request: NotificationRequest): boolean {
  const header = request.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  const given = header ?? request.queryToken ?? "";
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
