/**
 * How an ImageStream tag moves: a history row in PostgreSQL and its `image.changed` event, in
 * one transaction. Its own package, on @kiln/db and @kiln/bus, because two rooms move tags: the
 * image-watcher (registry pushes, build outputs, scheduled imports) and the api (`kiln tag`);
 * neither should depend on the other for it, and the db only stores (it publishes nothing).
 */
export { TagRecorder } from "./tag-recorder.js";
export type { TagRecorderOptions } from "./tag-recorder.js";
