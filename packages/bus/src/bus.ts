import {
  AckPolicy,
  connect,
  DeliverPolicy,
  ErrorCode,
  headers as natsHeaders,
  Events,
  nanos,
  NatsError,
  nkeyAuthenticator,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type ObjectStore,
  type StreamConfig,
} from "nats";
import type { Logger } from "pino";
import { backoffMs } from "@kiln/runtime";
import {
  consumers,
  events,
  objectStores,
  streams,
  type ConsumerName,
  type ObjectStoreKey,
  type EventInput,
  type EventPayload,
  type EventType,
  type StreamKey,
} from "./catalog.js";
import { jsonCodec, type Codec } from "./codec.js";
import { ConnectionState } from "./connection-state.js";
import {
  BusLoginRefusedError,
  BusNotReadyError,
  BusUnavailableError,
  isNonRetryable,
  MessageTooLargeError,
} from "./errors.js";
import { readObjectChunks, putObjectChunks } from "./object-chunks.js";
import { inboxPrefixFor, streamsOf, type BusIdentity, type BusRole } from "./roles.js";

export interface BusOptions {
  servers: string;
  /** First subject token and stream-name prefix. @default "kiln" */
  prefix?: string;
  /** Connection name shown by `nats-server` (the service name). */
  name: string;
  logger: Logger;
  /**
   * Who connects: the role the server's permissions were generated for (`busRoles`), and its
   * NKey seed. Without a seed the connection is anonymous, which Kiln's own servers refuse.
   */
  identity?: { role: BusIdentity; nkeySeed?: string | undefined };
  /** A PEM file with the CA of the server's TLS certificate; given, only TLS is accepted. */
  tlsCaFile?: string | undefined;
  /**
   * What the service's handlers need besides NATS (its PostgreSQL): asked when a handler
   * fails, null when all is up, else what is down. While something is down (NATS included),
   * the failed message is held, its ack deadline pushed on with `working()`, and handled again
   * once all is up: an outage of any length spends none of its `maxDeliver` deliveries, and
   * the consumer pulls nothing more meanwhile (held messages fill its `maxConcurrent`).
   * @default NATS only
   */
  dependencies?: (() => Promise<string | null>) | undefined;
  /**
   * A server that cannot be reached yet (refused, not resolvable, no route) is tried again,
   * 500 ms doubling to 5 s apart, until it is: a service started before its NATS waits for it
   * instead of exiting. A refused login still fails at once. @default false (fail at once)
   */
  waitForServer?: boolean;
}

/** What a handler gets besides the payload. */
export interface DeliveryContext {
  subject: string;
  /** The last subject token: the natural key (build id, request id). */
  key: string;
  /** 1 on the first delivery. */
  deliveryCount: number;
  streamSeq: number;
  /** Tells JetStream the work goes on, so the message is not redelivered meanwhile. */
  working(): void;
}

export type Handler<T extends EventType> = (
  payload: EventPayload<T>,
  ctx: DeliveryContext,
) => Promise<void>;

/** The event a durable consumer reads, from the catalogue: what its handler's payload is typed by. */
export type ConsumedEvent<N extends ConsumerName> = (typeof consumers)[N]["event"];

export interface ConsumeOptions {
  /** Messages handled at once; no more than this are ever taken from JetStream. @default 1 */
  maxConcurrent?: number;
}

/**
 * A running consumer. `stop()` stops pulling at once (a message that arrives as it does is
 * nak'd, never started, so another consumer gets it now) and waits for in-flight handlers.
 */
export interface Consumption {
  stop(): Promise<void>;
}

/** A nak'd message comes back after 500 ms, 1 s, 2 s, … at most 30 s (by its delivery count). */
const nakBackoff = { baseMs: 500, maxMs: 30_000 };
/** A service's first connect to a NATS not reachable yet is tried again after 500 ms, 1 s, … at most 5 s. */
const firstConnectBackoff = { baseMs: 500, maxMs: 5_000 };
/** A publish with `retryForMs` is tried again after 250 ms, 500 ms, … at most 5 s. */
const publishRetryBackoff = { baseMs: 250, maxMs: 5_000 };
/** A held message looks at its dependencies again after 250 ms, 500 ms, … at most 5 s. */
const holdBackoff = { baseMs: 250, maxMs: 5_000 };
/** A consumer whose pull failed (not by a stop) pulls again after 500 ms, 1 s, … at most 30 s. */
const reopenBackoff = { baseMs: 500, maxMs: 30_000 };
/**
 * How long a pull request lives. nats.js checks its consumer again after a reconnect and, if
 * that check fails (JetStream not ready yet on a restarting server), retries after this long:
 * its default, 30 s, would leave a consumer idle that long after NATS came back.
 */
const pullExpiresMs = 10_000;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const codecs = new Map<EventType, Codec<unknown>>();
function codecFor<T extends EventType>(type: T): Codec<EventPayload<T>> {
  let codec = codecs.get(type);
  if (!codec) {
    codec = jsonCodec(events[type].schema) as Codec<unknown>;
    codecs.set(type, codec);
  }
  return codec as Codec<EventPayload<T>>;
}

/**
 * Kiln's typed view of NATS JetStream: every subject, stream and consumer comes from the
 * catalogue, so a publisher and its consumers cannot disagree on a payload.
 */
export class Bus {
  private readonly stores = new Map<ObjectStoreKey, Promise<ObjectStore>>();
  /** Connected without a seed: only a NATS without authorization lets that in. */
  private anonymous = false;
  private readonly connection: ConnectionState;
  /** Set by `drain()`: the connection's close is ours, not a failure. */
  private draining = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly prefix: string,
    private readonly logger: Logger,
    servers: string,
    private readonly dependencies: (() => Promise<string | null>) | undefined,
  ) {
    this.connection = new ConnectionState(servers);
    this.watchConnection();
  }

  static async connect(options: BusOptions): Promise<Bus> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Bus.connectOnce(options);
      } catch (error) {
        if (!options.waitForServer || !isUnreachable(error)) throw error;
        const delayMs = backoffMs(attempt, firstConnectBackoff);
        options.logger.warn(
          { servers: options.servers, err: error, delayMs },
          "nats not reachable yet, trying again",
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  private static async connectOnce(options: BusOptions): Promise<Bus> {
    const { identity } = options;
    const nc = await connect({
      servers: options.servers,
      name: options.name,
      // A lost server is retried for ever (every 2 s, jittered): a service rides out a NATS
      // restart instead of exiting. Meanwhile publishes fail at once (BusUnavailableError),
      // readiness says so, and consumers pick up again by themselves once it is back.
      maxReconnectAttempts: -1,
      // nats.js pings every 2 minutes by default: a server that vanished without closing the
      // socket (a node gone, a partition) would be noticed after 4 minutes; these, within 40 s.
      pingInterval: 10_000,
      maxPingOut: 3,
      ...(identity ? { inboxPrefix: inboxPrefixFor(identity.role) } : {}),
      ...(options.tlsCaFile ? { tls: { caFile: options.tlsCaFile } } : {}),
      ...(identity?.nkeySeed
        ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(identity.nkeySeed)) }
        : {}),
    }).catch((error: unknown) => {
      if ((error as { code?: string }).code !== "AUTHORIZATION_VIOLATION") throw error;
      throw new BusLoginRefusedError(options.servers, identity?.role, Boolean(identity?.nkeySeed));
    });
    const jsm = await nc.jetstreamManager();
    const bus = new Bus(
      nc,
      nc.jetstream(),
      jsm,
      options.prefix ?? "kiln",
      options.logger,
      options.servers,
      options.dependencies,
    );
    bus.anonymous = !identity?.nkeySeed;
    return bus;
  }

  /**
   * A service's connection, from the variables every service reads (`baseConfigShape`): named
   * `kiln-<role>`, as its role's identity, over TLS when a CA is given.
   */
  static connectService(
    role: BusRole,
    config: {
      NATS_URL: string;
      KILN_SUBJECT_PREFIX: string;
      NATS_NKEY_SEED?: string | undefined;
      NATS_TLS_CA_FILE?: string | undefined;
    },
    logger: Logger,
    /** What its handlers need besides NATS (see `BusOptions.dependencies`). */
    dependencies?: () => Promise<string | null>,
  ): Promise<Bus> {
    return Bus.connect({
      servers: config.NATS_URL,
      prefix: config.KILN_SUBJECT_PREFIX,
      name: `kiln-${role}`,
      logger,
      identity: { role, nkeySeed: config.NATS_NKEY_SEED },
      tlsCaFile: config.NATS_TLS_CA_FILE,
      dependencies,
      waitForServer: true,
    });
  }

  /**
   * Follows nats.js's status events: what readiness says and whether a publish can be tried,
   * and one log line each time the connection is lost, back, or closed for good.
   */
  private watchConnection(): void {
    const log = this.logger.child({ component: "bus" });
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === Events.Disconnect) {
          this.connection.lost(Date.now());
          log.warn({ server: status.data }, "nats connection lost, reconnecting");
        } else if (status.type === Events.Reconnect) {
          const downMs = this.connection.regained(Date.now());
          log.info({ server: status.data, downMs }, "nats connection back");
        } else if (status.type === Events.Error) {
          log.error({ err: status.data }, "nats error");
        }
      }
    })().catch((error: unknown) => log.error({ err: error }, "nats status not followed"));
    void this.nc.closed().then((error) => {
      this.connection.closed(error instanceof Error ? error : undefined, this.draining);
      if (!this.draining)
        log.fatal({ err: error }, "nats connection closed for good: the service must restart");
    });
  }

  /** Why this bus cannot publish or pull now (lost and reconnecting, or closed), or null: a readiness check. */
  readiness(): string | null {
    return this.connection.readiness(Date.now());
  }

  /** Why this bus will never work again (nats.js gave up on the connection), or null: a liveness check. */
  liveness(): string | null {
    return this.connection.liveness();
  }

  subject(type: EventType, key: string): string {
    return `${this.prefix}.${type}.${key}`;
  }

  streamName(stream: StreamKey): string {
    return `${this.prefix.toUpperCase()}_${stream}`;
  }

  /** Creates or updates every stream in the catalogue. Safe to run from every service at start. */
  async ensureStreams(): Promise<void> {
    for (const [key, def] of Object.entries(streams) as [
      StreamKey,
      (typeof streams)[StreamKey],
    ][]) {
      const config: Partial<StreamConfig> = {
        name: this.streamName(key),
        subjects: def.subjects.map((s) => `${this.prefix}.${s}`),
        retention:
          def.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(def.maxAgeMs),
        duplicate_window: nanos(def.duplicateWindowMs),
        allow_direct: true,
      };
      try {
        await this.jsm.streams.info(config.name!);
        await this.jsm.streams.update(config.name!, config);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.jsm.streams.add(config);
      }
    }
    for (const key of Object.keys(objectStores) as ObjectStoreKey[]) await this.objectStore(key);
  }

  /**
   * Waits until the streams `role` works with exist (the admin creates them: `kiln up`, the
   * bus set-up step on Kubernetes). A service has no right to create or change a stream, except
   * on a NATS without authorization.
   */
  async waitForStreams(role: BusIdentity, timeoutMs = 60_000): Promise<void> {
    // A NATS that let us in without credentials has no permissions to keep either (a
    // development stack such as docker-compose.yml's): there each service sets the bus up itself.
    if (this.anonymous) return this.ensureStreams();
    const deadline = Date.now() + timeoutMs;
    for (const key of streamsOf(role)) {
      const name = this.streamName(key);
      for (;;) {
        try {
          await this.jsm.streams.info(name);
          break;
        } catch (error) {
          if (!isNotFound(error)) throw error;
          if (Date.now() > deadline) throw new BusNotReadyError(name, timeoutMs);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    }
  }

  /** Bucket name of an object store (`KILN_BUILD_INPUTS`); its stream is `OBJ_<bucket>`. */
  objectStoreName(store: ObjectStoreKey): string {
    return `${this.prefix.toUpperCase()}_${store}`;
  }

  /** Binds (creating it when missing) an object store of the catalogue. */
  private objectStore(store: ObjectStoreKey): Promise<ObjectStore> {
    let bound = this.stores.get(store);
    if (!bound) {
      bound = this.js.views.os(this.objectStoreName(store), {
        storage: StorageType.File,
        ttl: nanos(objectStores[store].maxAgeMs),
      });
      this.stores.set(store, bound);
      bound.catch(() => this.stores.delete(store));
    }
    return bound;
  }

  /**
   * Streams `data` into an object (replacing one of the same name). If `data` errors, the put
   * rejects with that error and the partial object is removed.
   */
  async putObject(
    store: ObjectStoreKey,
    name: string,
    data: ReadableStream<Uint8Array>,
  ): Promise<{ size: number }> {
    const target = { js: this.js, jsm: this.jsm, bucket: this.objectStoreName(store) };
    try {
      return await putObjectChunks({ ...target, store: await this.objectStore(store) }, name, data);
    } catch (error) {
      await this.deleteObject(store, name).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The content of an object, or null when there is none (never stored, deleted or expired).
   * The stream fails at its end (`ObjectCorruptError`) if the chunks do not match the stored
   * size and digest.
   */
  async readObject(store: ObjectStoreKey, name: string): Promise<AsyncIterable<Uint8Array> | null> {
    return readObjectChunks({ js: this.js, store: await this.objectStore(store) }, name);
  }

  /** Removes an object; false when there was none. */
  async deleteObject(store: ObjectStoreKey, name: string): Promise<boolean> {
    const os = await this.objectStore(store);
    const purged = await os.delete(name);
    return purged.success;
  }

  private consumerConfig(name: ConsumerName): Partial<ConsumerConfig> {
    const def = consumers[name];
    return {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${this.prefix}.${def.event}.>`,
      ack_wait: nanos(def.ackWaitMs),
      max_deliver: def.maxDeliver,
    };
  }

  /** Creates or updates a durable consumer from the catalogue. */
  async ensureConsumer(name: ConsumerName): Promise<void> {
    const stream = this.streamName(events[consumers[name].event].stream);
    const config = this.consumerConfig(name);
    try {
      await this.jsm.consumers.info(stream, name);
      await this.jsm.consumers.update(stream, name, config);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.jsm.consumers.add(stream, config);
    }
  }

  /**
   * Publishes and waits for the stream's ack. `msgId` must come from a natural key (request id,
   * build id + phase) so a retried publish is dropped by JetStream's duplicate window.
   *
   * While NATS is unreachable it fails at once with a `BusUnavailableError` (nats.js would
   * buffer it and time out after 5 s): a webhook, an api request or a handler that naks is
   * better told now. With `retryForMs`, a publish that fails for a retryable reason is tried
   * again (250 ms, 500 ms, … at most 5 s apart) for up to that long, for a publisher that has
   * nobody to hand the failure back to (a runner reporting a build's status).
   */
  async publish<T extends EventType>(
    type: T,
    key: string,
    payload: EventInput<T>,
    options: { msgId: string; retryForMs?: number },
  ): Promise<{ seq: number; duplicate: boolean }> {
    // Only a publish that expects a sequence can be refused as stale.
    return (await this.send(type, key, payload, options, undefined))!;
  }

  /**
   * Publishes only if `expected` holds for the newest stored event of the key (null: none), and
   * nothing else was stored for the key between that read and the publish (JetStream's expected
   * last subject sequence): a compare-and-set on the key's history, for a publisher whose event
   * must never land after someone else's newer one. False when either check failed. Otherwise
   * as `publish` (msg id, `retryForMs`).
   */
  async publishIf<T extends EventType>(
    type: T,
    key: string,
    payload: EventInput<T>,
    options: {
      msgId: string;
      retryForMs?: number;
      expected: (newest: EventPayload<T> | null) => boolean;
    },
  ): Promise<boolean> {
    const newest = await this.lastEntry(type, key);
    if (!options.expected(newest?.event ?? null)) return false;
    return (await this.send(type, key, payload, options, newest?.seq ?? 0)) !== null;
  }

  /**
   * Publishes only if the newest stored event of the key is the one at `lastSubjectSeq` (0:
   * none is stored): `publishIf` for a publisher that knows the newest event already (it
   * published it), without reading it back. The stored sequence, or null when refused.
   */
  async publishAfter<T extends EventType>(
    type: T,
    key: string,
    payload: EventInput<T>,
    options: { msgId: string; retryForMs?: number; lastSubjectSeq: number },
  ): Promise<number | null> {
    return (await this.send(type, key, payload, options, options.lastSubjectSeq))?.seq ?? null;
  }

  /** null: refused because another message of the subject was stored after `lastSubjectSeq`. */
  private async send<T extends EventType>(
    type: T,
    key: string,
    payload: EventInput<T>,
    options: { msgId: string; retryForMs?: number },
    lastSubjectSeq: number | undefined,
  ): Promise<{ seq: number; duplicate: boolean } | null> {
    const h = natsHeaders();
    h.set("Content-Type", "application/json");
    const subject = this.subject(type, key);
    const data = codecFor(type).encode(payload as EventPayload<T>);
    const until = Date.now() + (options.retryForMs ?? 0);
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.connection.connected) throw new BusUnavailableError(this.readiness() ?? "closed");
        const ack = await this.js.publish(subject, data, {
          msgID: options.msgId,
          headers: h,
          ...(lastSubjectSeq === undefined
            ? {}
            : { expect: { lastSubjectSequence: lastSubjectSeq } }),
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        if (lastSubjectSeq !== undefined && isWrongLastSequence(error)) return null;
        // The client refuses it before sending; say so with a type, not a message to match.
        if (error instanceof NatsError && error.code === ErrorCode.MaxPayloadExceeded)
          throw new MessageTooLargeError(subject, data.length, this.nc.info?.max_payload);
        const wait = backoffMs(attempt, publishRetryBackoff);
        if (isNonRetryable(error) || this.nc.isClosed() || Date.now() + wait > until) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * Runs `handler` for each message of a durable consumer. Each delivery ends in exactly one
   * outcome, chosen by what the handler did: returned → ack (after its own commit);
   * a non-retryable error (bad payload, a `retryable: false` domain error) → term;
   * anything else → nak with exponential backoff. One summary log line per delivery.
   */
  async consume<N extends ConsumerName>(
    name: N,
    handler: Handler<ConsumedEvent<N>>,
    options: ConsumeOptions = {},
  ): Promise<Consumption> {
    const def = consumers[name];
    const type: ConsumedEvent<N> = def.event;
    const stream = this.streamName(events[type].stream);
    const maxConcurrent = options.maxConcurrent ?? 1;
    const inFlight = new Set<Promise<void>>();
    const log = this.logger.child({ consumer: name });
    const stopping = new AbortController();
    const stopped = new Promise<void>((resolve) =>
      stopping.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    // Made again when missing (deleted, or lost with the server's state): only a missing stream
    // cannot be made here, as only the admin may.
    const bind = async (): Promise<Consumer> => {
      await this.ensureConsumer(name);
      return this.js.consumers.get(stream, name);
    };
    // Down now: NATS itself, else what the handler needs (null when all is up).
    const down = async (): Promise<string | null> =>
      (this.readiness() === null ? null : `nats: ${this.readiness()}`) ??
      (this.dependencies ? await this.dependencies() : null);
    let consumer = await bind();
    /** The pull in progress, closed by `stop()`. */
    let pull: ConsumerMessages | null = null;

    /** Holds a failed message while a dependency is down; true once all is up again. */
    const hold = async (msg: JsMsg, problem: string, base: object): Promise<boolean> => {
      log.warn(
        { ...base, outcome: "held", unavailable: problem },
        "message held until its dependencies are back",
      );
      // Within the ack wait, or JetStream would hand it to another consumer meanwhile.
      const heartbeat = setInterval(() => msg.working(), Math.floor(def.ackWaitMs / 3));
      try {
        for (let attempt = 1; !stopping.signal.aborted; attempt++) {
          await sleep(backoffMs(attempt, holdBackoff), stopping.signal);
          if (!stopping.signal.aborted && (await down()) === null) return true;
        }
        return false;
      } finally {
        clearInterval(heartbeat);
      }
    };

    const handleOne = async (msg: JsMsg): Promise<void> => {
      const started = Date.now();
      const key = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      const base = {
        op: msg.subject,
        [events[type].key]: key,
        streamSeq: msg.seq,
        deliveryCount: msg.info.redeliveryCount,
      };
      for (;;) {
        try {
          const payload = codecFor(type).decode(msg.data, msg.subject);
          await handler(payload, {
            subject: msg.subject,
            key,
            deliveryCount: msg.info.redeliveryCount,
            streamSeq: msg.seq,
            working: () => msg.working(),
          });
          msg.ack();
          log.info(
            { ...base, outcome: "ack", durationMs: Date.now() - started },
            "message handled",
          );
          return;
        } catch (error) {
          if (isNonRetryable(error)) {
            msg.term(error instanceof Error ? error.message.slice(0, 200) : "non-retryable");
            log.error(
              { ...base, outcome: "term", durationMs: Date.now() - started, err: error },
              "message handled",
            );
            return;
          }
          const problem = stopping.signal.aborted ? null : await down().catch(() => null);
          if (problem !== null && (await hold(msg, problem, base))) continue;
          const delay = backoffMs(msg.info.redeliveryCount, nakBackoff);
          msg.nak(delay);
          log.warn(
            {
              ...base,
              outcome: "nak",
              delayMs: delay,
              durationMs: Date.now() - started,
              err: error,
            },
            "message handled",
          );
          return;
        }
      }
    };

    // Pulls exactly as many messages as there are free handlers, and pulls again only when one
    // is free. nats.js's `consume()` pulls ahead of its iterator: a message it holds while every
    // handler is busy waits unseen (its ack wait runs out and JetStream hands it to someone else
    // too), and is started even after `stop()` (a runner took a new build 8 s after SIGTERM).
    const loop = (async () => {
      for (let failures = 0; !stopping.signal.aborted;) {
        while (inFlight.size >= maxConcurrent && !stopping.signal.aborted)
          await Promise.race([...inFlight, stopped]);
        if (stopping.signal.aborted) return;
        try {
          pull = await consumer.fetch({
            max_messages: maxConcurrent - inFlight.size,
            expires: pullExpiresMs,
          });
          // Stopped while it was asked for: stop() closed the pull before this one.
          if (stopping.signal.aborted) await pull.close();
          for await (const msg of pull) {
            failures = 0;
            if (stopping.signal.aborted) {
              // Arrived as the pull was closed: handed back at once, never started.
              msg.nak();
              log.info(
                { op: msg.subject, streamSeq: msg.seq, outcome: "nak" },
                "message handed back, consumer stopping",
              );
              continue;
            }
            const task = handleOne(msg).finally(() => inFlight.delete(task));
            inFlight.add(task);
          }
        } catch (error) {
          if (stopping.signal.aborted) return;
          // What nats.js does not retry itself (a permission error, the durable consumer
          // deleted under it, NATS unreachable): pull again, with backoff, until stopped.
          failures += 1;
          log.warn({ err: error }, "could not pull messages, trying again");
          await sleep(backoffMs(failures, reopenBackoff), stopping.signal);
          if (stopping.signal.aborted) return;
          consumer = await bind().catch((bindError: unknown) => {
            if (isNotFound(bindError))
              log.error(
                { err: bindError },
                "stream missing: set the bus up again (kiln up, or the setup-bus job)",
              );
            else log.warn({ err: bindError }, "could not bind the durable consumer");
            return consumer;
          });
        }
      }
    })();

    return {
      stop: async () => {
        // Stop pulling first: nothing more is taken from here on.
        stopping.abort();
        await pull?.close();
        await loop.catch(() => undefined);
        await Promise.allSettled([...inFlight]);
      },
    };
  }

  /** The newest event of a type for one key, or null (used to see whether a build was cancelled). */
  async lastEvent<T extends EventType>(type: T, key: string): Promise<EventPayload<T> | null> {
    return (await this.lastEntry(type, key))?.event ?? null;
  }

  /** The newest event of a type for one key with its stream sequence, or null. */
  private async lastEntry<T extends EventType>(
    type: T,
    key: string,
  ): Promise<{ seq: number; event: EventPayload<T> } | null> {
    const subject = this.subject(type, key);
    try {
      const msg = await this.jsm.streams.getMessage(this.streamName(events[type].stream), {
        last_by_subj: subject,
      });
      return { seq: msg.seq, event: codecFor(type).decode(msg.data, subject) };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /**
   * Each named durable consumer's backlog: messages of its stream it has not been delivered yet
   * (JetStream's `num_pending`), for the metrics. A consumer not created yet is left out.
   */
  async pending(names: readonly ConsumerName[]): Promise<Record<string, number>> {
    const entries = await Promise.all(
      names.map(async (name) => {
        try {
          const stream = this.streamName(events[consumers[name].event].stream);
          const info = await this.jsm.consumers.info(stream, name);
          return [[name, info.num_pending] as const];
        } catch (error) {
          if (isNotFound(error)) return [];
          throw error;
        }
      }),
    );
    return Object.fromEntries(entries.flat());
  }

  /** How many events of a type are stored for one key. */
  async count(type: EventType, key: string): Promise<number> {
    const subject = this.subject(type, key);
    const info = await this.jsm.streams.info(this.streamName(events[type].stream), {
      subjects_filter: subject,
    });
    return info.state.subjects?.[subject] ?? 0;
  }

  /**
   * Reads every event of a type for one key, oldest first, through an ordered consumer.
   * Without `follow` it stops at the last stored message; with it, it waits for more until
   * `signal` aborts.
   */
  async *read<T extends EventType>(
    type: T,
    key: string,
    options: { follow: boolean; signal?: AbortSignal },
  ): AsyncGenerator<EventPayload<T>> {
    const subject = this.subject(type, key);
    const stream = this.streamName(events[type].stream);
    let remaining = options.follow ? Infinity : await this.count(type, key);
    if (remaining === 0) return;
    const consumer = await this.js.consumers.get(stream, { filterSubjects: subject });
    const messages = await consumer.consume();
    const abort = () => void messages.close();
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      if (options.signal?.aborted) return;
      for await (const msg of messages) {
        yield codecFor(type).decode(msg.data, msg.subject);
        remaining -= 1;
        if (remaining <= 0) break;
      }
    } finally {
      options.signal?.removeEventListener("abort", abort);
      await messages.close();
    }
  }

  /**
   * A plain (non-durable) subscription to every key of an event type, for signals that only
   * matter to whoever is listening now (a runner hearing that a build it runs was cancelled).
   */
  listen<T extends EventType>(
    type: T,
    handler: (payload: EventPayload<T>) => void,
  ): { stop(): void } {
    const sub = this.nc.subscribe(`${this.prefix}.${type}.>`);
    void (async () => {
      for await (const msg of sub) {
        try {
          handler(codecFor(type).decode(msg.data, msg.subject));
        } catch (error) {
          this.logger.warn({ subject: msg.subject, err: error }, "ignored undecodable message");
        }
      }
    })().catch((error: unknown) =>
      this.logger.error({ subject: `${this.prefix}.${type}.>`, err: error }, "subscription failed"),
    );
    return { stop: () => sub.unsubscribe() };
  }

  isClosed(): boolean {
    return this.nc.isClosed();
  }

  /**
   * Calls `handler` with each message of a durable consumer that JetStream gave up on (it
   * reached `maxDeliver`: a runner died with it that many times), then deletes the message
   * from its stream, so nothing is left behind in a work queue. Listens to JetStream's
   * MAX_DELIVERIES advisory; a core subscription, so only while this process runs.
   */
  watchExhausted<T extends EventType>(
    name: ConsumerName,
    handler: (payload: EventPayload<T>) => Promise<void>,
  ): { stop(): void } {
    const type = consumers[name].event as T;
    const stream = this.streamName(events[type].stream);
    const sub = this.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${name}`);
    const log = this.logger.child({ consumer: name });
    void (async () => {
      for await (const advisory of sub) {
        try {
          const { stream_seq: seq } = JSON.parse(new TextDecoder().decode(advisory.data)) as {
            stream_seq: number;
          };
          const msg = await this.jsm.streams.getMessage(stream, { seq });
          await handler(codecFor(type).decode(msg.data, msg.subject));
          await this.jsm.streams.deleteMessage(stream, seq);
          log.warn(
            { op: msg.subject, streamSeq: seq, outcome: "exhausted" },
            "message exhausted its deliveries",
          );
        } catch (error) {
          log.error({ err: error }, "could not handle an exhausted message");
        }
      }
    })().catch((error: unknown) => log.error({ err: error }, "subscription failed"));
    return { stop: () => sub.unsubscribe() };
  }

  /** Lets pending publishes and acks reach the server, then closes. */
  async drain(): Promise<void> {
    this.draining = true;
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

/** A connect error that says the server is not there (yet), as opposed to one that refuses us. */
function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === ErrorCode.ConnectionRefused ||
    code === "ENOTFOUND" ||
    code === "EAI_AGAIN" ||
    code === "EHOSTUNREACH" ||
    code === "ENETUNREACH" ||
    code === "ETIMEDOUT"
  );
}

/** JetStream's "wrong last sequence" (10071): the subject holds a newer message than expected. */
function isWrongLastSequence(error: unknown): boolean {
  const api = (error as { api_error?: { err_code?: number } } | null)?.api_error;
  return api?.err_code === 10071;
}

function isNotFound(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const api = (error as { api_error?: { code?: number } }).api_error;
  if (api?.code === 404) return true;
  const code = (error as { code?: string | number }).code;
  return code === "404" || code === 404;
}
