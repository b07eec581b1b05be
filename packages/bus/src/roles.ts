import {
  consumers,
  events,
  streams,
  type ConsumerName,
  type EventType,
  type ObjectStoreKey,
  type StreamKey,
} from "./catalog.js";

/**
 * What each part of Kiln does on the bus, in the catalogue's words. The NATS permissions of
 * every connection are generated from this table (see `natsPermissions`), so a service can
 * publish and read only what it is listed for here; `test/bus/permissions.int.test.ts` checks
 * the refusals against a real server.
 * - `publishes`: event types it publishes;
 * - `consumes`: the durable consumers it pulls from (and may create or update: they are its own);
 * - `peeks`: event types whose stored messages it reads one at a time (the newest for a key, a
 *   count), never through a consumer;
 * - `reads`: event types it reads through ordered (ephemeral) consumers, which JetStream cannot
 *   tell from anyone else's: such a stream may hold no durable consumer (checked below);
 * - `listens`: event types it hears as plain (non-durable) messages;
 * - `exhausts`: consumers whose given-up messages it takes over (and deletes from the stream);
 * - `objects`: object stores it writes (put, delete) or only reads.
 */
export const busRoles = {
  api: {
    // image.changed: `kiln tag` moves a tag itself.
    publishes: ["build.requested", "build.cancel-requested", "image.changed"],
    consumes: [],
    peeks: ["build.log-appended"],
    reads: ["build.log-appended"],
    // The events stream of the console and `kiln get builds -w`.
    listens: ["build.status-changed", "image.changed", "deploy.status-changed"],
    exhausts: [],
    objects: { BUILD_INPUTS: "write" },
  },
  "webhook-receiver": {
    publishes: ["build.requested"],
    // Its commit-status reporter: a build's phase goes back to the git host.
    consumes: ["webhook-receiver-build-status"],
    peeks: [],
    reads: [],
    listens: [],
    exhausts: [],
    objects: {},
  },
  scheduler: {
    // build.status-changed: the phases it gives a build itself (New, Pending, a queued build
    // cancelled or failed, RunnerLost); it peeks at the newest so as never to land after a runner's.
    publishes: ["build.dispatched", "build.status-changed"],
    consumes: [
      "scheduler-build-requested",
      "scheduler-build-status",
      "scheduler-build-cancel",
      "scheduler-image-changed",
    ],
    peeks: ["build.status-changed"],
    reads: [],
    listens: [],
    exhausts: ["build-runner-dispatched"],
    objects: {},
  },
  "build-runner": {
    publishes: ["build.status-changed", "build.log-appended"],
    consumes: ["build-runner-dispatched"],
    peeks: ["build.status-changed", "build.cancel-requested"],
    reads: [],
    listens: ["build.cancel-requested"],
    exhausts: [],
    objects: { BUILD_INPUTS: "write" },
  },
  "image-watcher": {
    publishes: ["image.changed"],
    consumes: ["image-watcher-build-status"],
    peeks: [],
    reads: [],
    listens: [],
    exhausts: [],
    objects: {},
  },
  deployer: {
    publishes: ["deploy.status-changed"],
    consumes: ["deployer-image-changed"],
    peeks: [],
    reads: [],
    listens: [],
    exhausts: [],
    objects: {},
  },
  /** The fetch container of a Kubernetes build pod: it reads its binary input, nothing else. */
  "build-pod": {
    publishes: [],
    consumes: [],
    peeks: [],
    reads: [],
    listens: [],
    exhausts: [],
    objects: { BUILD_INPUTS: "read" },
  },
} as const satisfies Record<string, BusRoleDefinition>;

type BusRoleDefinition = {
  publishes: readonly EventType[];
  consumes: readonly ConsumerName[];
  peeks: readonly EventType[];
  reads: readonly EventType[];
  listens: readonly EventType[];
  exhausts: readonly ConsumerName[];
  objects: Partial<Record<ObjectStoreKey, "write" | "read">>;
};

export type BusRole = keyof typeof busRoles;
/** A service's role, or `admin`: the one that sets up streams and consumers (`kiln up`, the tests). */
export type BusIdentity = BusRole | "admin";
export const busRoleNames = Object.keys(busRoles) as BusRole[];

/** What a NATS user may do: nats-server's `permissions` block. */
export type NatsPermissions = {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
};

/**
 * Each connection's replies come to its own inbox prefix, and it may subscribe to no other, so
 * one service cannot read what JetStream delivers to another (a runner's dispatches).
 */
export function inboxPrefixFor(identity: BusIdentity): string {
  return `_INBOX_${identity.replaceAll("-", "_")}`;
}

/**
 * The stream names and subjects of `prefix`'s bus. A test server shares one set of users among
 * many private buses: `prefix` `*` matches every one of them (a stream name is one token).
 */
function names(prefix: string) {
  const upper = prefix === "*" ? "*" : prefix.toUpperCase();
  return {
    stream: (key: StreamKey) => (upper === "*" ? "*" : `${upper}_${key}`),
    subject: (type: EventType) => `${prefix}.${type}.>`,
    bucket: (key: ObjectStoreKey) => (upper === "*" ? "*" : `${upper}_${key}`),
  };
}

/** nats-server permissions for a role on the bus of `prefix` (`*`: every prefix). */
export function natsPermissions(identity: BusIdentity, prefix: string): NatsPermissions {
  const inbox = `${inboxPrefixFor(identity)}.>`;
  if (identity === "admin") return { publish: { allow: [">"] }, subscribe: { allow: [">"] } };
  const role: BusRoleDefinition = busRoles[identity];
  const n = names(prefix);
  const api = "$JS.API";
  const streamOf = (type: EventType) => n.stream(events[type].stream);
  const publish = new Set<string>([`${api}.INFO`]);
  const subscribe = new Set<string>([inbox]);

  for (const type of role.publishes) {
    publish.add(n.subject(type));
    // To see at start that the stream is there (`Bus.waitForStreams`).
    publish.add(`${api}.STREAM.INFO.${streamOf(type)}`);
  }
  for (const name of role.consumes) {
    const stream = streamOf(consumers[name].event);
    publish.add(`${api}.STREAM.INFO.${stream}`);
    publish.add(`${api}.CONSUMER.INFO.${stream}.${name}`);
    publish.add(`${api}.CONSUMER.CREATE.${stream}.${name}`);
    publish.add(`${api}.CONSUMER.CREATE.${stream}.${name}.>`);
    publish.add(`${api}.CONSUMER.DURABLE.CREATE.${stream}.${name}`);
    publish.add(`${api}.CONSUMER.MSG.NEXT.${stream}.${name}`);
    publish.add(`$JS.ACK.${stream}.${name}.>`);
  }
  for (const type of role.peeks) {
    const stream = streamOf(type);
    publish.add(`${api}.STREAM.INFO.${stream}`);
    publish.add(`${api}.STREAM.MSG.GET.${stream}`);
  }
  for (const type of role.reads) addOrderedRead(publish, streamOf(type));
  for (const type of role.listens) subscribe.add(n.subject(type));
  for (const name of role.exhausts) {
    const stream = streamOf(consumers[name].event);
    subscribe.add(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${name}`);
    publish.add(`${api}.STREAM.MSG.GET.${stream}`);
    publish.add(`${api}.STREAM.MSG.DELETE.${stream}`);
  }
  for (const [key, access] of Object.entries(role.objects) as [ObjectStoreKey, string][]) {
    const bucket = n.bucket(key);
    // A wildcard stands for a whole token only: a shared test server allows every stream here.
    const stream = bucket === "*" ? "*" : `OBJ_${bucket}`;
    publish.add(`${api}.STREAM.INFO.${stream}`);
    publish.add(`${api}.STREAM.MSG.GET.${stream}`);
    publish.add(`${api}.DIRECT.GET.${stream}`);
    publish.add(`${api}.DIRECT.GET.${stream}.>`);
    // nats.js finds an object's stream by subject before it reads the object's chunks.
    publish.add(`${api}.STREAM.NAMES`);
    addOrderedRead(publish, stream);
    if (access === "write") {
      publish.add(`$O.${bucket}.>`);
      publish.add(`${api}.STREAM.PURGE.${stream}`);
    }
  }
  return { publish: { allow: [...publish] }, subscribe: { allow: [...subscribe] } };
}

/** An ordered consumer: created, pulled, flow-controlled and deleted by the client itself. */
function addOrderedRead(publish: Set<string>, stream: string): void {
  const api = "$JS.API";
  publish.add(`${api}.STREAM.INFO.${stream}`);
  publish.add(`${api}.CONSUMER.CREATE.${stream}`);
  publish.add(`${api}.CONSUMER.CREATE.${stream}.>`);
  publish.add(`${api}.CONSUMER.INFO.${stream}.>`);
  publish.add(`${api}.CONSUMER.DELETE.${stream}.>`);
  publish.add(`${api}.CONSUMER.MSG.NEXT.${stream}.>`);
  publish.add(`$JS.FC.${stream}.>`);
}

/** The streams a role's work needs; a service waits for these at start (`Bus.waitForStreams`). */
export function streamsOf(identity: BusIdentity): StreamKey[] {
  if (identity === "admin") return Object.keys(streams) as StreamKey[];
  const role: BusRoleDefinition = busRoles[identity];
  const types = [
    ...role.publishes,
    ...role.peeks,
    ...role.reads,
    ...[...role.consumes, ...role.exhausts].map((name) => consumers[name].event),
  ];
  return [...new Set(types.map((type) => events[type].stream))];
}

/** Streams read through ordered consumers, which must therefore hold no durable consumer. */
export function streamsReadUnordered(): StreamKey[] {
  return [
    ...new Set(
      Object.values(busRoles).flatMap((role: BusRoleDefinition) =>
        role.reads.map((type) => events[type].stream),
      ),
    ),
  ];
}
