/**
 * The image-watcher's parts: registry notification parsers (CNCF distribution, Harbor, Docker
 * Hub, Quay; pure), the mapping from a pushed registry tag to ImageStream tags (pure), the
 * manifest resolver (over `@kiln/registry`, which also parses image names), and the components
 * main.ts wires: the notification receiver and its HTTP server (Fastify: `/healthz` and the
 * notification routes), the build-output recorder and the scheduled importer.
 */
export { BuildOutputRecorder } from "./build-output-recorder.js";
export type { BuildOutputRecorderOptions } from "./build-output-recorder.js";
export {
  ManifestNotFoundError,
  ManifestUnavailableError,
  NotificationParseError,
} from "./errors.js";
export { ManifestResolver } from "./manifest-resolver.js";
export type { ManifestResolverOptions } from "./manifest-resolver.js";
export { NotificationReceiver } from "./notification-receiver.js";
export { NotificationServer } from "./notification-server.js";
export type { NotificationServerOptions } from "./notification-server.js";
export type {
  NotificationReceiverOptions,
  NotificationRequest,
  NotificationResponse,
} from "./notification-receiver.js";
export { eventsV1MediaType, eventsV2MediaType } from "./notifications/distribution.js";
export { parseNotification } from "./notifications/parse.js";
export { NotificationSource, notificationSources } from "./notifications/push-hint.js";
export type { ParsedNotification, PushHint } from "./notifications/push-hint.js";
export { ScheduledImporter } from "./scheduled-importer.js";
export type { ScheduledImporterOptions } from "./scheduled-importer.js";
export { kilnPath, scheduledTargets, targetsForPush } from "./tag-targets.js";
export type { ImageStreamLike, TagTarget, TargetOptions } from "./tag-targets.js";
