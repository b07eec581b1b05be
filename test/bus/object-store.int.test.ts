import { randomBytes } from "node:crypto";
import { Bus, ObjectCorruptError } from "@kiln/bus";
import { createLogger } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { StorageType, type ObjectStore } from "nats";
import { expect } from "vitest";

const logger = createLogger({ service: "object-store-test", level: "silent" });
/** The bus, and nats.js's own object store on the same bucket, as another client would read it. */
const test = baseTest.extend<{ bus: Bus; natsStore: ObjectStore }>({
  bus: async ({ infra, subjectPrefix }, use) => {
    const bus = await connectTestBus(infra, {
      prefix: subjectPrefix,
      name: "object-store-test",
      logger,
    });
    await use(bus);
    await bus.drain();
  },
  natsStore: async ({ bus }, use) => {
    // The bus makes the bucket on first use; an empty put makes sure it is there.
    await bus.putObject("BUILD_INPUTS", "bucket-made", streamOf([]));
    await use(
      await bus.nc.jetstream().views.os(bus.objectStoreName("BUILD_INPUTS"), {
        storage: StorageType.File,
      }),
    );
  },
});

/** A stream of `pieces` as an HTTP body arrives: sizes that never line up with a chunk. */
function streamOf(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(piece);
      controller.close();
    },
  });
}

const piecesOf = (bytes: Buffer, size: number) =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
    bytes.subarray(i * size, (i + 1) * size),
  );

async function readAll(content: AsyncIterable<Uint8Array> | null): Promise<Buffer> {
  if (!content) throw new Error("no such object");
  const chunks: Uint8Array[] = [];
  for await (const chunk of content) chunks.push(chunk);
  return Buffer.concat(chunks);
}

test("an object the bus stores is read back the same by the bus and by nats.js's own object store", async ({
  bus,
  natsStore,
}) => {
  // Three whole 128 KiB chunks and a few bytes, arriving in 10,000-byte pieces.
  const bytes = randomBytes(3 * 128 * 1024 + 5);
  expect(await bus.putObject("BUILD_INPUTS", "upload", streamOf(piecesOf(bytes, 10_000)))).toEqual({
    size: bytes.length,
  });

  expect((await readAll(await bus.readObject("BUILD_INPUTS", "upload"))).equals(bytes)).toBe(true);
  const info = await natsStore.info("upload");
  expect(info).toMatchObject({ size: bytes.length, chunks: 4, deleted: false });
  const got = await natsStore.get("upload");
  const read = await readAll(got!.data as unknown as AsyncIterable<Uint8Array>);
  // nats.js checks the digest the bus recorded against its own hash of the chunks.
  expect(await got!.error).toBeFalsy();
  expect(read.equals(bytes)).toBe(true);
});

test("the bus reads an object nats.js stored, and an empty one", async ({ bus, natsStore }) => {
  const bytes = randomBytes(200_000);
  await natsStore.put({ name: "theirs" }, streamOf([bytes]));
  expect((await readAll(await bus.readObject("BUILD_INPUTS", "theirs"))).equals(bytes)).toBe(true);

  await bus.putObject("BUILD_INPUTS", "empty", streamOf([]));
  expect((await readAll(await bus.readObject("BUILD_INPUTS", "empty"))).length).toBe(0);
  expect(await bus.readObject("BUILD_INPUTS", "never-stored")).toBeNull();
});

test("replacing an object leaves only the new one's chunks, and a deleted one reads as none", async ({
  bus,
  natsStore,
}) => {
  await bus.putObject("BUILD_INPUTS", "again", streamOf([randomBytes(300_000)]));
  const first = (await natsStore.info("again"))!;
  const second = randomBytes(1000);
  await bus.putObject("BUILD_INPUTS", "again", streamOf([second]));
  expect((await readAll(await bus.readObject("BUILD_INPUTS", "again"))).equals(second)).toBe(true);
  const jsm = await bus.nc.jetstreamManager();
  const stream = `OBJ_${bus.objectStoreName("BUILD_INPUTS")}`;
  const chunksLeft = await jsm.streams
    .getMessage(stream, { last_by_subj: `$O.${first.bucket}.C.${first.nuid}` })
    .then(
      () => true,
      () => false,
    );
  expect(chunksLeft).toBe(false);

  expect(await bus.deleteObject("BUILD_INPUTS", "again")).toBe(true);
  expect(await bus.readObject("BUILD_INPUTS", "again")).toBeNull();
});

test("an object whose chunks were changed fails at the end of its read, naming it", async ({
  bus,
  natsStore,
}) => {
  const bytes = randomBytes(1000);
  await bus.putObject("BUILD_INPUTS", "tampered", streamOf([bytes]));
  const info = (await natsStore.info("tampered"))!;
  await bus.nc.jetstream().publish(`$O.${info.bucket}.C.${info.nuid}`, Buffer.from("more"));

  const read = readAll(await bus.readObject("BUILD_INPUTS", "tampered"));
  await expect(read).rejects.toBeInstanceOf(ObjectCorruptError);
  await expect(read).rejects.toThrow(/tampered read back as 1004 bytes/);
});

test("an upload that fails midway stores nothing: the put rejects with its error", async ({
  bus,
  natsStore,
}) => {
  const broken = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(randomBytes(300_000));
      controller.error(new Error("client went away"));
    },
  });
  await expect(bus.putObject("BUILD_INPUTS", "broken", broken)).rejects.toThrow("client went away");
  expect(await bus.readObject("BUILD_INPUTS", "broken")).toBeNull();
  expect(await natsStore.info("broken")).toBeNull();
  // The chunks it did publish are purged: only the fixture's empty object is in the bucket.
  const jsm = await bus.nc.jetstreamManager();
  const stream = await jsm.streams.info(`OBJ_${bus.objectStoreName("BUILD_INPUTS")}`);
  expect(stream.state.messages).toBe(1);
});
