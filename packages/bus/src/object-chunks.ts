import { createHash } from "node:crypto";
import {
  consumerOpts,
  headers as natsHeaders,
  nuid,
  type JetStreamClient,
  type JetStreamManager,
  type ObjectStore,
} from "nats";
import { ObjectCorruptError } from "./errors.js";

/**
 * An object store's data path, in the store's own wire format (NATS ADR-20: chunks on
 * `$O.<bucket>.C.<nuid>`, the description on `$O.<bucket>.M.<name>` rolled up), with Node's
 * SHA-256. nats.js hashes every byte of a put and of a get with a SHA-256 written in
 * JavaScript: 20 MiB cost it 275 ms each way here, against 18 ms in node:crypto, which was most
 * of a binary build's upload and of its read. What is stored is what nats.js's own
 * `put`/`get` write and read, so either side may be the other.
 */

/** nats.js's chunk size: 128 KiB messages leave room on the connection for everything else. */
const chunkBytes = 128 * 1024;
/** Chunks awaiting their ack at once: a few MiB in flight, never the whole upload in memory. */
const inFlight = 32;

interface ObjectTarget {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The bucket (`KILN_BUILD_INPUTS`); its stream is `OBJ_<bucket>`. */
  bucket: string;
  /** The bound store, for the description of an object already there. */
  store: ObjectStore;
}

const digestOf = (hash: ReturnType<typeof createHash>) =>
  `SHA-256=${hash.digest("base64url").padEnd(44, "=")}`;
/** The object's name as its description's subject token: base64url, padded, as nats.js writes it. */
const nameToken = (name: string) => {
  const b64url = Buffer.from(name).toString("base64url");
  return b64url.padEnd(Math.ceil(b64url.length / 4) * 4, "=");
};

/**
 * Stores `data` as `name` (replacing an object of that name, whose chunks are then purged);
 * chunks already published are purged if `data` or a publish fails.
 */
export async function putObjectChunks(
  target: ObjectTarget,
  name: string,
  data: ReadableStream<Uint8Array>,
): Promise<{ size: number }> {
  const { js, jsm, bucket, store } = target;
  const stream = `OBJ_${bucket}`;
  const id = nuid.next();
  const chunkSubject = `$O.${bucket}.C.${id}`;
  const old = await store.info(name);
  const hash = createHash("sha256");
  let size = 0;
  let chunks = 0;
  const pending = new Set<Promise<unknown>>();
  // A chunk the server did not take fails the put, even if its ack came while nobody awaited it.
  let failed: { error: unknown } | null = null;
  const publish = async (chunk: Uint8Array) => {
    if (failed) throw failed.error;
    hash.update(chunk);
    size += chunk.length;
    chunks++;
    const ack: Promise<unknown> = js.publish(chunkSubject, chunk).then(
      () => pending.delete(ack),
      (error: unknown) => {
        pending.delete(ack);
        failed ??= { error };
      },
    );
    pending.add(ack);
    if (pending.size >= inFlight) await Promise.race(pending);
  };
  try {
    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    for await (const piece of data as unknown as AsyncIterable<Uint8Array>) {
      buffered.push(piece);
      bufferedBytes += piece.length;
      if (bufferedBytes < chunkBytes) continue;
      const joined = Buffer.concat(buffered, bufferedBytes);
      let at = 0;
      for (; joined.length - at >= chunkBytes; at += chunkBytes)
        await publish(joined.subarray(at, at + chunkBytes));
      buffered = at < joined.length ? [joined.subarray(at)] : [];
      bufferedBytes = joined.length - at;
    }
    if (bufferedBytes > 0) await publish(Buffer.concat(buffered, bufferedBytes));
    await Promise.all(pending);
    if (failed) throw (failed as { error: unknown }).error;
    const h = natsHeaders();
    h.set("Nats-Rollup", "sub");
    const description = {
      name,
      description: "",
      options: { max_chunk_size: chunkBytes },
      bucket,
      nuid: id,
      size,
      chunks,
      mtime: new Date().toISOString(),
      digest: digestOf(hash),
      deleted: false,
    };
    await js.publish(`$O.${bucket}.M.${nameToken(name)}`, JSON.stringify(description), {
      headers: h,
    });
  } catch (error) {
    await Promise.all(pending);
    await jsm.streams.purge(stream, { filter: chunkSubject }).catch(() => undefined);
    throw error;
  }
  // The new description is live: the replaced object's chunks are garbage (as nats.js does).
  if (old && !old.deleted)
    await jsm.streams
      .purge(stream, { filter: `$O.${bucket}.C.${old.nuid}` })
      .catch(() => undefined);
  return { size };
}

/**
 * The chunks of `name` in order, or null when there is none (never stored, deleted or expired);
 * the iteration fails at its end with `ObjectCorruptError` if they do not add up to the stored
 * size and digest. Stopping the iteration early removes its consumer.
 */
export async function readObjectChunks(
  target: Pick<ObjectTarget, "js" | "store">,
  name: string,
): Promise<AsyncIterable<Uint8Array> | null> {
  const { js, store } = target;
  const info = await store.info(name);
  if (!info || info.deleted) return null;
  if (info.size === 0) return (async function* () {})();
  const options = consumerOpts();
  options.orderedConsumer();
  const sub = await js.subscribe(`$O.${info.bucket}.C.${info.nuid}`, options);
  return (async function* () {
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const message of sub) {
        if (message.data.length > 0) {
          hash.update(message.data);
          size += message.data.length;
          yield message.data;
        }
        if (message.info.pending === 0) break;
      }
    } finally {
      sub.unsubscribe();
    }
    const digest = digestOf(hash);
    if (size !== info.size || digest !== info.digest)
      throw new ObjectCorruptError(
        name,
        { size, digest },
        { size: info.size, digest: info.digest },
      );
  })();
}
