/**
 * Limits of what Kiln accepts, each where the rest of the pipeline would otherwise break: a
 * message the bus cannot carry, a timer that overflows, a column that overflows. Checked where
 * input enters (the schemas, the api), so what is accepted can be built.
 */

/** The largest signed 32-bit integer: a PostgreSQL `integer`, OpenShift's `int32` fields. */
const maxInt32 = 2_147_483_647;

/**
 * The longest `completionDeadlineSeconds`, 2,147,483 s (about 24.8 days): the runner sets one
 * timer of `seconds × 1000` ms, and a Node timer above 2^31 − 1 ms fires at once (it would fail
 * every build `DeadlineExceeded` in milliseconds).
 */
export const maxCompletionDeadlineSeconds = Math.floor(maxInt32 / 1000);

/** The largest `successfulBuildsHistoryLimit` / `failedBuildsHistoryLimit`: pruning reads them as a PostgreSQL `integer`. */
export const maxBuildsHistoryLimit = maxInt32;

/**
 * NATS's `max_payload`, the largest message the bus carries (headers included): 1 MiB, the
 * server's default, which Kiln's NATS keeps (`kiln up`'s nats-server runs without a
 * `max_payload`, and so does k8s/base/nats.yaml). A larger publish fails at the client.
 */
export const busMaxPayloadBytes = 1024 * 1024;

/**
 * The largest build spec (as JSON, UTF-8) Kiln accepts: 900 KiB. A build's spec travels whole in
 * `build.dispatched`, and the other 124 KiB of the bus's 1 MiB hold the rest of that message:
 * the ids and names, the headers, the registry credentials sealed for the runners (two docker
 * configs of at most {@link maxDockerConfigJsonBytes}, escaped, encrypted and base64: under
 * 90 KiB), and what the trigger adds (its cause, pinned images). A unit test of the bus checks
 * the worst case still fits.
 */
export const maxBuildSpecBytes = 900 * 1024;

/**
 * The largest `.dockerconfigjson` of a registry Secret: 16 KiB, room for a hundred registries. A
 * build's pull and push credentials ride sealed in its `build.dispatched` (see maxBuildSpecBytes).
 */
export const maxDockerConfigJsonBytes = 16 * 1024;

const encoder = new TextEncoder();

/** Bytes `value` takes as JSON in UTF-8: what it weighs in a message on the bus. */
export function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value) ?? "").length;
}

/** `921600` → `921,600`: limits are read by people. */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `921600` → `900 KiB`, `1048576` → `1 MiB`: how a limit is said, beside its exact bytes. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${formatCount(bytes)} bytes`;
}

/**
 * The part of a JSON value that makes it large: from the top, the largest member is followed as
 * long as it holds most of its parent (so one huge Dockerfile is named by its own path, and ten
 * thousand small env vars by `env`). Returns the path and that part's bytes.
 */
export function largestPart(value: unknown): {
  path: (string | number)[];
  /** The part's own size: a string's UTF-8 bytes as written, anything else's JSON bytes. */
  bytes: number;
} {
  const path: (string | number)[] = [];
  let node = value;
  let bytes = jsonBytes(value);
  for (;;) {
    if (typeof node !== "object" || node === null) break;
    const members: [string | number, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [i, v])
      : Object.entries(node);
    let best: { key: string | number; value: unknown; bytes: number } | null = null;
    for (const [key, member] of members) {
      const size = jsonBytes(member);
      if (!best || size > best.bytes) best = { key, value: member, bytes: size };
    }
    if (!best || best.bytes * 2 <= bytes) break;
    path.push(best.key);
    node = best.value;
    bytes = best.bytes;
  }
  return { path, bytes: typeof node === "string" ? encoder.encode(node).length : bytes };
}
