import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import {
  fastifyTimeoutOptions,
  healthStatusCode,
  type HttpTimeouts,
  ServiceHealth,
  unavailableRetryAfterSeconds,
  type WebhookMetrics,
} from "@kiln/runtime";
import { requestBuild, type Bus } from "@kiln/bus";
import {
  checkDatabase,
  getWebhookBuildConfig,
  markWebhookDeliveryPublished,
  WebhookOutcome,
  WebhookRefusalReason,
  type Db,
  type NewWebhookDelivery,
  type WebhookDeliveryRecord,
  openBuildConfigSpec,
  openSecretValue,
  type SecretBox,
} from "@kiln/db";
import {
  newBuildSizeIssue,
  SecretType,
  webhookSecretKey,
  type BuildConfigSpec,
  type BuildTrigger,
  type SecretSpec,
} from "@kiln/domain";
import type { Logger } from "pino";
import { DeliveryRecorder } from "./delivery-recorder.js";
import { WebhookError, WebhookErrorReason } from "./errors.js";
import { matchEvent } from "./match.js";
import { header } from "./providers/common.js";
import { hookTypes, isHookType, type HookType } from "./providers/index.js";
import type { HookHeaders, ParsedHook } from "./push-event.js";
import { requestProvesSecret } from "./signature.js";
import { constantTimeEqual } from "./verify.js";

export interface WebhookReceiverOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest body accepted; larger ones get 413 unread. @default 5 MiB */
  bodyLimitBytes?: number;
  /** Opens the webhook secrets as stored (KILN_SECRETS_KEY). */
  secrets: SecretBox;
  /** How long a sender may take (WEBHOOK_HEADERS_TIMEOUT_MS, …). @default defaultWebhookTimeouts */
  timeouts?: HttpTimeouts;
  /** Where handled deliveries are counted; served on the metrics port, never on this one. */
  metrics?: WebhookMetrics;
}

/**
 * The receiver's HTTP timeouts unless configured. A git host sends a delivery at once and gives
 * up on it after 10 s (GitHub), so anything slower is not a git host: 10 s for the headers, 30 s
 * for the whole request (at most WEBHOOK_BODY_LIMIT_BYTES), 30 s without a byte mid-request, and
 * 72 s for an idle kept-alive connection (longer than common load balancers keep one).
 */
export const defaultWebhookTimeouts: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
};

/** What a webhook sender gets back (202 new, 200 a redelivery). */
export interface DeliveryAnswer {
  delivery: string;
  outcome: WebhookOutcome;
  reason?: string | undefined;
  message?: string | undefined;
  requestId?: string | undefined;
  commit?: string | undefined;
  /** True when this delivery id was seen before: nothing new was stored or started. */
  redelivery?: boolean;
}

interface HookRequest {
  namespace: string;
  buildConfig: string;
  type: string;
  /** The secret of OpenShift's URL shape; absent on Kiln's `/hooks/…` URLs (signature headers instead). */
  pathSecret: string | undefined;
  headers: HookHeaders;
  body: Uint8Array;
}

/**
 * A BuildConfig as deliveries check it: its spec with the webhook secrets opened, and what each
 * Secret its triggers name by `secretReference` holds under `WebHookSecretKey` (or why nothing).
 */
interface HookTarget {
  spec: BuildConfigSpec;
  referenced: Map<string, ReferencedSecret>;
}
/**
 * A BuildConfig's read, shared by every delivery that needs it while it runs and for a second
 * after it started; `sealed` is the row as stored, so a re-read of an unchanged row reuses the
 * secrets already opened instead of decrypting them again.
 */
interface CachedTarget {
  until: number;
  read: Promise<{ target: HookTarget | undefined; sealed: string }>;
}
type SecretRefusalReason =
  typeof WebhookErrorReason.SecretNotFound | typeof WebhookErrorReason.SecretKeyMissing;
/** The webhook secret a referenced Secret holds, or why it holds none (`which …`, for the message). */
type ReferencedSecret = { value: string } | { reason: SecretRefusalReason; which: string };

/** Why a trigger could prove nothing: what the delivery stores for the BuildConfig's owner. */
interface SecretProblem {
  reason: SecretRefusalReason;
  message: string;
}

const unauthorizedMessage =
  "the webhook secret or signature does not match a webhook trigger of this BuildConfig";
// Compared against when there is no trigger secret, so an unknown BuildConfig costs the same work.
const decoySecret = randomUUID();

const providerNames: Record<string, string> = {
  github: "GitHub",
  gitlab: "GitLab",
  gitea: "Gitea",
  gogs: "Gogs",
  bitbucket: "Bitbucket",
  "bitbucket-server": "Bitbucket Server",
  generic: "Generic",
};

/**
 * HTTP ingress for git webhooks. Verifies the secret, parses and matches the payload, stores the
 * delivery (one for a BuildConfig that does not exist is only counted, in
 * `webhook_refusal_counts`), and for a matching push publishes `build.requested` (request id
 * `git-<provider>-<deliveryId>`, so a redelivery can never make a second build); it answers at
 * once and never waits for the build.
 */
export class WebhookReceiver {
  private readonly app: FastifyInstance;
  /** BuildConfigs read in the last second: a burst of deliveries costs one query, not one each. */
  private readonly targets = new Map<string, CachedTarget>();
  private readonly log: Logger;
  private readonly deliveries: DeliveryRecorder;
  /** `/healthz` and `/readyz`; readiness also tells a failed delivery's 503 from a 500. */
  private readonly health: ServiceHealth;

  constructor(private readonly options: WebhookReceiverOptions) {
    this.log = options.logger.child({ component: "webhook-receiver" });
    this.deliveries = new DeliveryRecorder(options.db);
    this.health = new ServiceHealth({
      live: { nats: () => options.bus.liveness() },
      ready: { nats: () => options.bus.readiness(), postgres: () => checkDatabase(options.db) },
    });
    this.app = this.createApp();
  }

  /** Listens; resolves with the URL. */
  async start(): Promise<string> {
    await this.app.listen({ host: this.options.host, port: this.options.port });
    const address = this.app.server.address();
    const port = typeof address === "object" && address ? address.port : this.options.port;
    return `http://${this.options.host}:${port}`;
  }

  /** Stops accepting; lets requests in flight finish (each stores and publishes before it answers). */
  async stop(): Promise<void> {
    await this.app.close();
  }

  /** For in-process tests: the fastify instance (`inject`). */
  get server(): FastifyInstance {
    return this.app;
  }

  private createApp(): FastifyInstance {
    const app = Fastify({
      bodyLimit: this.options.bodyLimitBytes ?? 5 * 1024 * 1024,
      logger: false,
      // Fastify's default, 100, answers 414 to a longer path parameter: a BuildConfig name may
      // have 165 characters, and OpenShift's URL carries the webhook secret, which may be long.
      routerOptions: { maxParamLength: 1024 },
      ...fastifyTimeoutOptions(this.options.timeouts ?? defaultWebhookTimeouts),
    });
    // Signatures cover the raw bytes: keep them, parse later (after verification).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ["application/json", "application/x-www-form-urlencoded"],
      { parseAs: "buffer" },
      (_req, body, done) => done(null, body),
    );
    app.setErrorHandler(async (error, request, reply) => {
      let { status, body } = toHttpError(error, this.options.bodyLimitBytes ?? 5 * 1024 * 1024);
      // A delivery that fails while PostgreSQL or NATS is down failed because of them: 503 and
      // a Retry-After, never a 2xx, so the sender redelivers it (nothing was acted on, or the
      // stored delivery is published again on redelivery).
      const down = status === 500 ? await this.health.ready.problem() : null;
      if (down !== null) {
        status = 503;
        body = {
          error: WebhookErrorReason.Unavailable,
          message: `the delivery could not be handled now (${down}); redeliver it`,
        };
      }
      if (status === 500)
        this.log.error({ err: error, path: loggablePath(request.url) }, "webhook request failed");
      else
        this.log.warn(
          {
            status,
            error: body.error,
            path: loggablePath(request.url),
            ...(down !== null ? { unavailable: down, err: error } : {}),
          },
          "webhook request refused",
        );
      if (status === 503) void reply.header("retry-after", String(unavailableRetryAfterSeconds));
      return reply.status(status).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
      void reply.status(404).send({
        error: "NotFound",
        message: `no webhook route ${request.method} ${loggablePath(request.url)}`,
      });
    });

    // Liveness and readiness (see @kiln/runtime's health): a receiver whose PostgreSQL is
    // down is unready (it answers deliveries 503), not dead.
    for (const [path, checks] of [
      ["/healthz", this.health.live],
      ["/readyz", this.health.ready],
    ] as const) {
      app.get(path, async (_request, reply) => {
        const report = await checks.report();
        return reply.status(healthStatusCode(report)).send(report);
      });
    }

    const bodyOf = (body: unknown): Uint8Array =>
      body instanceof Uint8Array ? body : new Uint8Array();
    app.post<{ Params: { ns: string; bc: string; secret: string; type: string } }>(
      "/apis/build.openshift.io/v1/namespaces/:ns/buildconfigs/:bc/webhooks/:secret/:type",
      async (request, reply) => {
        const { ns, bc, secret, type } = request.params;
        const { status, answer } = await this.handle({
          namespace: ns,
          buildConfig: bc,
          type,
          pathSecret: secret,
          headers: request.headers,
          body: bodyOf(request.body),
        });
        return reply.status(status).send(answer);
      },
    );
    app.post<{ Params: { ns: string; bc: string; type: string } }>(
      "/hooks/:ns/:bc/:type",
      async (request, reply) => {
        const { ns, bc, type } = request.params;
        const { status, answer } = await this.handle({
          namespace: ns,
          buildConfig: bc,
          type,
          pathSecret: undefined,
          headers: request.headers,
          body: bodyOf(request.body),
        });
        return reply.status(status).send(answer);
      },
    );
    return app;
  }

  /**
   * One delivery. Order matters: what does not depend on the BuildConfig (route, media type,
   * size) is refused first; then the secret, with every failure (unknown BuildConfig, no such
   * trigger, wrong secret) the same 401; only a verified body is parsed and trusted.
   */
  private async handle(req: HookRequest): Promise<{ status: number; answer: DeliveryAnswer }> {
    const started = performance.now();
    if (!isHookType(req.type)) {
      throw new WebhookError(
        WebhookErrorReason.MissingHeader,
        `unknown webhook type ${req.type} (github, gitlab, bitbucket, gitea, generic)`,
      );
    }
    const type = req.type;
    const def = hookTypes[type];
    const { namespace, buildConfig } = req;
    const base = { namespace, buildConfig, provider: type };

    const target = await this.hookTarget(namespace, buildConfig);
    const spec = target?.spec;
    const triggers = (spec?.triggers ?? []).filter((t) => t.type === def.trigger);
    const { trigger, usable, problems } = this.verifiedTrigger(type, req, triggers, target);
    if (!trigger && spec === undefined) {
      // Anyone can make up a namespace and a name: such a request costs a counter, not a row.
      // The counter is written in the same statement a stored refusal would be, so this answer
      // takes as long as the one below and is the same 401.
      await this.deliveries.count({
        reason: WebhookRefusalReason.UnknownBuildConfig,
        provider: type,
      });
      this.logRefusal(base, WebhookRefusalReason.UnknownBuildConfig, started);
      throw new WebhookError(WebhookErrorReason.Unauthorized, unauthorizedMessage);
    }
    if (!trigger) {
      const wrong =
        req.pathSecret === undefined
          ? "no valid signature or token for this BuildConfig's triggers"
          : "wrong secret in the URL";
      // The sender gets the same 401 either way; the stored delivery tells the BuildConfig's
      // owner when a referenced Secret is why (alone when no trigger had a secret to prove).
      const stored = await this.store({
        ...base,
        deliveryId: untrustedDeliveryId(req.headers),
        outcome: WebhookOutcome.Rejected,
        reason: usable === 0 && problems[0] ? problems[0].reason : WebhookErrorReason.Unauthorized,
        message: [
          ...(usable > 0 || problems.length === 0 ? [wrong] : []),
          ...problems.map((p) => p.message),
        ].join("; "),
      });
      this.logDelivery(stored, started);
      throw new WebhookError(WebhookErrorReason.Unauthorized, unauthorizedMessage);
    }
    const settings = trigger[def.field] ?? {};

    let parsed: ParsedHook;
    try {
      parsed = def.parse(req.headers, req.body);
      if (spec) refuseUncarriableEnv(parsed, settings.allowEnv === true, spec, req);
    } catch (error) {
      if (!(error instanceof WebhookError)) throw error;
      const stored = await this.store({
        ...base,
        deliveryId: untrustedDeliveryId(req.headers),
        outcome: WebhookOutcome.Rejected,
        reason: error.reason,
        message: error.message,
      });
      this.logDelivery(stored, started);
      throw error;
    }

    const match = matchEvent(
      parsed.event,
      {
        ref: spec?.source.git?.ref,
        hasGitSource: spec?.source.git !== undefined,
        includeTags: settings.includeTags === true,
      },
      type === "generic",
    );
    // A generic hook sent without a delivery id cannot be deduplicated: it gets a fresh one.
    const deliveryId = parsed.deliveryId ?? randomUUID();
    const requestId = `git-${parsed.provider}-${deliveryId}`;
    const change = match.change;
    const record: NewWebhookDelivery = {
      namespace,
      buildConfig,
      provider: parsed.provider,
      deliveryId,
      outcome: match.outcome === "build" ? WebhookOutcome.BuildRequested : WebhookOutcome.Skipped,
      reason: match.outcome === "skip" ? match.reason : null,
      message: match.outcome === "skip" ? match.message : null,
      requestId: match.outcome === "build" ? requestId : null,
      commit: change?.commit ?? null,
      ref: change?.ref || null,
    };
    const { inserted, delivery } = await this.deliveries.record(record);
    if (!inserted && (delivery.namespace !== namespace || delivery.buildConfig !== buildConfig)) {
      throw new WebhookError(
        WebhookErrorReason.Conflict,
        `delivery ${deliveryId} was already received for another BuildConfig`,
      );
    }
    // A first delivery, or a redelivery of one whose publish failed before: (re)publish. The
    // request id is the same either way, so JetStream and the scheduler see one request.
    if (
      delivery.outcome === WebhookOutcome.BuildRequested &&
      delivery.publishedAt === null &&
      delivery.requestId
    ) {
      const env =
        parsed.event.kind === "push" && settings.allowEnv === true ? (parsed.event.env ?? []) : [];
      try {
        await this.publish(delivery, env);
      } catch (error) {
        this.log.error(
          { err: error, deliveryId, requestId: delivery.requestId },
          "build request not published",
        );
        throw new WebhookError(
          WebhookErrorReason.Unavailable,
          "the delivery is stored but its build could not be queued; redeliver it",
          { cause: error },
        );
      }
    }
    this.logDelivery(delivery, started, !inserted);
    return {
      status: inserted ? 202 : 200,
      answer: {
        delivery: delivery.id,
        outcome: delivery.outcome,
        ...(delivery.reason ? { reason: delivery.reason } : {}),
        ...(delivery.message ? { message: delivery.message } : {}),
        ...(delivery.requestId ? { requestId: delivery.requestId } : {}),
        ...(delivery.commit ? { commit: delivery.commit } : {}),
        ...(inserted ? {} : { redelivery: true }),
      },
    };
  }

  /**
   * The BuildConfig's spec and the Secrets its triggers reference, cached for a second. A
   * changed webhook secret (inline, or a re-applied Secret) therefore takes up to a second to
   * apply, a fair price for not reading Postgres once per delivery under a burst. Deliveries
   * that arrive while it is read wait for that read instead of each making their own.
   */
  private async hookTarget(namespace: string, name: string): Promise<HookTarget | undefined> {
    const key = `${namespace}/${name}`;
    const now = Date.now();
    const cached = this.targets.get(key);
    if (cached && cached.until > now) return (await cached.read).target;
    const entry: CachedTarget = {
      until: now + 1000,
      read: this.readTarget(namespace, name, cached?.read),
    };
    if (this.targets.size > 10_000) this.targets.clear();
    this.targets.set(key, entry);
    // A failed read is not kept: the next delivery reads again.
    entry.read.catch(() => {
      if (this.targets.get(key) === entry) this.targets.delete(key);
    });
    return (await entry.read).target;
  }

  private async readTarget(
    namespace: string,
    name: string,
    previous: CachedTarget["read"] | undefined,
  ): Promise<{ target: HookTarget | undefined; sealed: string }> {
    const row = await getWebhookBuildConfig(this.options.db, namespace, name);
    const sealed = row ? JSON.stringify([row.spec, [...row.referencedSecrets]]) : "";
    const before = await previous?.catch(() => undefined);
    if (before && before.sealed === sealed) return before;
    const target = row
      ? {
          spec: openBuildConfigSpec(row.spec, this.options.secrets),
          referenced: new Map(
            referencedNames(row.spec).map((ref) => [
              ref,
              this.referencedSecret(row.referencedSecrets.get(ref)),
            ]),
          ),
        }
      : undefined;
    return { target, sealed };
  }

  /** What a Secret named by `secretReference` gives a trigger, as OpenShift reads it: its `WebHookSecretKey`. */
  private referencedSecret(secret: SecretSpec | undefined): ReferencedSecret {
    if (!secret) return { reason: WebhookErrorReason.SecretNotFound, which: "does not exist" };
    if (secret.type !== SecretType.Opaque) {
      return {
        reason: WebhookErrorReason.SecretKeyMissing,
        which: `is a ${secret.type} Secret, without the key ${webhookSecretKey} (use an ${SecretType.Opaque} Secret)`,
      };
    }
    const value = openSecretValue(secret, webhookSecretKey, this.options.secrets);
    if (value === null)
      return {
        reason: WebhookErrorReason.SecretKeyMissing,
        which: `has no key ${webhookSecretKey}`,
      };
    // An empty key would let anyone sign: as good as none.
    if (value === "")
      return {
        reason: WebhookErrorReason.SecretKeyMissing,
        which: `has an empty ${webhookSecretKey}`,
      };
    return { value };
  }

  /**
   * The trigger whose secret the request proves, or null; how many triggers had a secret to
   * prove, and why the others had none (a referenced Secret missing or without its key). Always
   * compares at least once, so a trigger without a usable secret costs what a wrong secret does.
   */
  private verifiedTrigger(
    type: HookType,
    req: HookRequest,
    triggers: BuildTrigger[],
    target: HookTarget | undefined,
  ): { trigger: BuildTrigger | null; usable: number; problems: SecretProblem[] } {
    const def = hookTypes[type];
    let found: BuildTrigger | null = null;
    let usable = 0;
    const problems: SecretProblem[] = [];
    for (const trigger of triggers) {
      const hook = trigger[def.field];
      let secret = hook?.secret;
      // OpenShift's rule: with both set, the reference is the secret and `secret` is not used.
      const ref = hook?.secretReference?.name;
      if (ref !== undefined) {
        const referenced = target?.referenced.get(ref);
        if (!referenced || !("value" in referenced)) {
          problems.push({
            reason: referenced?.reason ?? WebhookErrorReason.SecretNotFound,
            message: `the ${def.trigger} trigger's secretReference names Secret ${req.namespace}/${ref}, which ${referenced?.which ?? "does not exist"}`,
          });
          continue;
        }
        secret = referenced.value;
      }
      if (!secret) continue;
      usable += 1;
      const ok =
        req.pathSecret !== undefined
          ? constantTimeEqual(req.pathSecret, secret)
          : requestProvesSecret(type, req.headers, req.body, secret);
      if (ok && !found) found = trigger;
    }
    if (usable === 0) {
      if (req.pathSecret !== undefined) constantTimeEqual(req.pathSecret, decoySecret);
      else requestProvesSecret(type, req.headers, req.body, decoySecret);
    }
    return { trigger: found, usable, problems };
  }

  private async publish(
    delivery: WebhookDeliveryRecord,
    env: { name: string; value: string }[],
  ): Promise<void> {
    const requestId = delivery.requestId!;
    const short = delivery.commit ? delivery.commit.slice(0, 7) : "the tip";
    const where = delivery.ref ? ` to ${delivery.ref}` : "";
    await requestBuild(this.options.bus, {
      requestId,
      namespace: delivery.namespace,
      buildConfig: delivery.buildConfig,
      ...(delivery.commit ? { commit: delivery.commit } : {}),
      env,
      cause: {
        type: "GitPush",
        message: `${providerNames[delivery.provider] ?? delivery.provider} WebHook: push of ${short}${where}`,
        deliveryId: delivery.deliveryId ?? undefined,
        commit: delivery.commit ?? undefined,
      },
    });
    await markWebhookDeliveryPublished(this.options.db, delivery.id);
  }

  private store(delivery: NewWebhookDelivery): Promise<WebhookDeliveryRecord> {
    return this.deliveries.record(delivery).then((r) => r.delivery);
  }

  private logRefusal(
    d: { namespace: string; buildConfig: string; provider: string },
    reason: WebhookRefusalReason,
    started: number,
  ): void {
    this.options.metrics?.delivered(d.provider, WebhookOutcome.Rejected);
    if (!this.log.isLevelEnabled("info")) return;
    this.log.info(
      {
        ...d,
        outcome: WebhookOutcome.Rejected,
        reason,
        stored: false,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      },
      "webhook delivery handled",
    );
  }

  private logDelivery(d: WebhookDeliveryRecord, started: number, redelivery = false): void {
    this.options.metrics?.delivered(d.provider, redelivery ? "redelivered" : d.outcome);
    // Thousands a second under a burst: the line's object is not even built when it is not logged.
    if (!this.log.isLevelEnabled("info")) return;
    this.log.info(
      {
        namespace: d.namespace,
        buildConfig: d.buildConfig,
        provider: d.provider,
        deliveryId: d.deliveryId,
        outcome: d.outcome,
        reason: d.reason ?? undefined,
        requestId: d.requestId ?? undefined,
        commit: d.commit ?? undefined,
        redelivery,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      },
      "webhook delivery handled",
    );
  }
}

/** The Secrets a BuildConfig's webhook triggers name by `secretReference`. */
function referencedNames(spec: BuildConfigSpec): string[] {
  const names = new Set<string>();
  for (const trigger of spec.triggers) {
    for (const { field } of Object.values(hookTypes)) {
      const name = trigger[field]?.secretReference?.name;
      if (name !== undefined) names.add(name);
    }
  }
  return [...names];
}

/** The delivery id a rejected request claims, kept for the record only (never deduplicated on). */
function untrustedDeliveryId(headers: HookHeaders): string | null {
  for (const name of [
    "x-github-delivery",
    "idempotency-key",
    "x-gitlab-event-uuid",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gogs-delivery",
    "x-request-uuid",
    "x-request-id",
    "x-kiln-delivery",
  ]) {
    const value = header(headers, name);
    if (value !== undefined) return value.replace(/[^A-Za-z0-9_{}-]/g, "").slice(0, 128) || null;
  }
  return null;
}

/**
 * A generic webhook's env rides in the build's spec to the runner: one that would make the spec
 * larger than the bus carries is refused here (413, stored as a rejected delivery naming the
 * limit), not left to fail at dispatch. Weighed as the scheduler makes the build; the registry's
 * few bytes per image are not known here, which the room kept beside the spec absorbs.
 */
function refuseUncarriableEnv(
  parsed: ParsedHook,
  allowEnv: boolean,
  spec: BuildConfigSpec,
  req: HookRequest,
): void {
  if (parsed.event.kind !== "push" || !allowEnv || !parsed.event.env?.length) return;
  const issue = newBuildSizeIssue(
    spec,
    {
      namespace: req.namespace,
      buildConfig: req.buildConfig,
      env: parsed.event.env,
      cause: { type: "GitPush", message: "Generic WebHook" },
    },
    "",
  );
  if (issue)
    throw new WebhookError(WebhookErrorReason.PayloadTooLarge, `${issue.path}: ${issue.message}`);
}

function toHttpError(
  error: unknown,
  limit: number,
): { status: number; body: { error: string; message: string } } {
  if (error instanceof WebhookError)
    return { status: error.status, body: { error: error.reason, message: error.message } };
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 413)
    return {
      status,
      body: {
        error: WebhookErrorReason.PayloadTooLarge,
        message: `the body is larger than ${limit} bytes (WEBHOOK_BODY_LIMIT_BYTES)`,
      },
    };
  if (status === 415) {
    return {
      status,
      body: {
        error: WebhookErrorReason.UnsupportedMediaType,
        message: "send the webhook as application/json (or GitHub's and Gitea's form encoding)",
      },
    };
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return {
      status,
      body: {
        error: WebhookErrorReason.MalformedPayload,
        message: error instanceof Error ? error.message : "bad request",
      },
    };
  }
  return {
    status: 500,
    body: { error: "Internal", message: "the webhook could not be handled; it was not acted on" },
  };
}

/**
 * A request path fit for a log line: no query, and the secret segment of an OpenShift-style
 * URL (`…/webhooks/<secret>/github`) replaced, so a refused delivery does not log the secret.
 */
export function loggablePath(url: string): string {
  return url.split("?")[0]!.replace(/\/webhooks\/[^/]+(?=\/|$)/, "/webhooks/[redacted]");
}
