import { EventSourceParserStream, type EventSourceMessage } from "eventsource-parser/stream";
import {
  ApiError,
  ApiTimeoutError,
  ApiUnreachableError,
  StreamInterruptedError,
  type ErrorDetail,
} from "./errors.js";
import type {
  ApplyResult,
  Build,
  BuildConfig,
  Deploy,
  ImageStream,
  ImageStreamGrant,
  BuilderTemplate,
  Secret,
  Token,
  WebhookDelivery,
} from "./resources.js";

export interface KilnClientOptions {
  /** e.g. `http://127.0.0.1:18080`, no trailing slash needed. */
  baseUrl: string;
  token?: string | undefined;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * Budget for one ordinary request. Log streams have none: a follow lasts as long as the build.
   * @default 30_000
   */
  timeoutMs?: number;
}

export interface InstantiateRequest {
  commit?: string;
  env?: { name: string; value: string }[];
  /** Idempotency key: the same key twice gives the same build, so a retried request never doubles one. */
  requestId?: string;
}

/** A binary build's upload (`start-build --from-file/--from-dir/--from-archive`). */
export interface InstantiateBinaryRequest {
  /** `file`: placed in the source dir as `asFile`; `archive`: a tar or tar.gz unpacked as the source dir. */
  kind: "file" | "archive";
  asFile?: string | undefined;
  requestId?: string | undefined;
  /** The bytes, streamed (never held in memory whole). */
  body: ReadableStream<Uint8Array>;
  /** Length when known (a file): sent as Content-Length so the API refuses an oversized upload before it starts. */
  size?: number | undefined;
}

/** What `POST …/imagestreamtags` answers. */
export interface TagResult {
  metadata: { namespace: string; name: string };
  image: string;
  dockerImageReference: string;
  /** False when the destination already pointed at that image. */
  changed: boolean;
}

/** 201 gives the build; 202 means the scheduler has not created it within the API's wait. */
export type InstantiateResult =
  { kind: "Created"; build: Build } | { kind: "Accepted"; requestId: string };

/** One server-sent event of `GET …/events`: `ready`, then `build`, `image`, `deploy` (docs/api.md). */
export type ServerEvent = EventSourceMessage;

/** The api comments every 15 s on a quiet events stream; three missed mean the connection is dead. */
const eventsIdleTimeoutMs = 45_000;

/** The API waits up to 15 s for the scheduler before answering 202; leave room on top of that. */
const instantiateTimeoutMs = 45_000;

/** Typed methods over the REST API in docs/api.md. One instance per command run. */
export class KilnClient {
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: KilnClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async health(): Promise<boolean> {
    const res = await this.send("GET", "/healthz", { auth: false });
    return res.ok;
  }

  /** Each applied item's result, and the fields Kiln stored or dropped without acting on them. */
  async apply(items: unknown[]): Promise<{ items: ApplyResult[]; warnings: string[] }> {
    const body = await this.json<{ items: ApplyResult[]; warnings?: string[] }>(
      "POST",
      "/apis/v1/apply",
      { body: { items } },
    );
    return { items: body.items, warnings: body.warnings ?? [] };
  }

  listBuildConfigs(namespace: string): Promise<BuildConfig[]> {
    return this.list<BuildConfig>(`${ns(namespace)}/buildconfigs`);
  }

  getBuildConfig(namespace: string, name: string): Promise<BuildConfig> {
    return this.json("GET", `${ns(namespace)}/buildconfigs/${seg(name)}`);
  }

  async deleteBuildConfig(namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${ns(namespace)}/buildconfigs/${seg(name)}`);
  }

  listImageStreams(namespace: string): Promise<ImageStream[]> {
    return this.list<ImageStream>(`${ns(namespace)}/imagestreams`);
  }

  getImageStream(namespace: string, name: string): Promise<ImageStream> {
    return this.json("GET", `${ns(namespace)}/imagestreams/${seg(name)}`);
  }

  /** `kiln tag`: points `to` (`is:tag`) at the current image of `from` (`is:tag`, in `fromNamespace` or `namespace`). */
  tagImage(
    namespace: string,
    from: { name: string; namespace?: string | undefined },
    to: string,
  ): Promise<TagResult> {
    return this.json("POST", `${ns(namespace)}/imagestreamtags`, {
      body: {
        from: {
          kind: "ImageStreamTag",
          name: from.name,
          ...(from.namespace ? { namespace: from.namespace } : {}),
        },
        tag: to,
      },
    });
  }

  async deleteImageStream(namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${ns(namespace)}/imagestreams/${seg(name)}`);
  }

  listSecrets(namespace: string): Promise<Secret[]> {
    return this.list<Secret>(`${ns(namespace)}/secrets`);
  }

  getSecret(namespace: string, name: string): Promise<Secret> {
    return this.json("GET", `${ns(namespace)}/secrets/${seg(name)}`);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${ns(namespace)}/secrets/${seg(name)}`);
  }

  listImageStreamGrants(namespace: string): Promise<ImageStreamGrant[]> {
    return this.list<ImageStreamGrant>(`${ns(namespace)}/imagestreamgrants`);
  }

  getImageStreamGrant(namespace: string, name: string): Promise<ImageStreamGrant> {
    return this.json("GET", `${ns(namespace)}/imagestreamgrants/${seg(name)}`);
  }

  async deleteImageStreamGrant(namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${ns(namespace)}/imagestreamgrants/${seg(name)}`);
  }

  listBuilderTemplates(namespace: string): Promise<BuilderTemplate[]> {
    return this.list<BuilderTemplate>(`${ns(namespace)}/buildertemplates`);
  }

  getBuilderTemplate(namespace: string, name: string): Promise<BuilderTemplate> {
    return this.json("GET", `${ns(namespace)}/buildertemplates/${seg(name)}`);
  }

  async deleteBuilderTemplate(namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${ns(namespace)}/buildertemplates/${seg(name)}`);
  }

  /** `kiln create token`: the answer carries the token, the only time it is ever shown. */
  createToken(
    name: string,
    roles: { namespace: string; role: string }[],
  ): Promise<Token & { token: string }> {
    return this.json("POST", "/apis/v1/tokens", { body: { name, roles } });
  }

  /** The tokens with a role in a namespace the caller administers (only those roles shown). */
  listTokens(): Promise<Token[]> {
    return this.list<Token>("/apis/v1/tokens");
  }

  async deleteToken(name: string): Promise<void> {
    await this.json("DELETE", `/apis/v1/tokens/${seg(name)}`);
  }

  async instantiate(
    namespace: string,
    buildConfig: string,
    request: InstantiateRequest,
  ): Promise<InstantiateResult> {
    const res = await this.send(
      "POST",
      `${ns(namespace)}/buildconfigs/${seg(buildConfig)}/instantiate`,
      {
        body: request,
        timeoutMs: instantiateTimeoutMs,
      },
    );
    await throwIfError(res);
    const body = (await res.json()) as Build | { requestId: string };
    if (res.status === 202)
      return { kind: "Accepted", requestId: (body as { requestId: string }).requestId };
    return { kind: "Created", build: body as Build };
  }

  /**
   * Streams an upload to `instantiatebinary`. No timeout: an upload takes as long as its size
   * needs; the API's own 15 s wait for the scheduler follows it.
   */
  async instantiateBinary(
    namespace: string,
    buildConfig: string,
    request: InstantiateBinaryRequest,
  ): Promise<InstantiateResult> {
    const query = new URLSearchParams({ kind: request.kind });
    if (request.asFile) query.set("asFile", request.asFile);
    if (request.requestId) query.set("requestId", request.requestId);
    const res = await this.send(
      "POST",
      `${ns(namespace)}/buildconfigs/${seg(buildConfig)}/instantiatebinary?${query}`,
      {
        stream: { body: request.body, length: request.size },
        timeoutMs: 0,
      },
    );
    await throwIfError(res);
    const body = (await res.json()) as Build | { requestId: string };
    if (res.status === 202)
      return { kind: "Accepted", requestId: (body as { requestId: string }).requestId };
    return { kind: "Created", build: body as Build };
  }

  /** Newest first, as the API returns them. */
  listWebhookDeliveries(
    namespace: string,
    filter: { buildConfig?: string | undefined } = {},
  ): Promise<WebhookDelivery[]> {
    const query = filter.buildConfig
      ? `?buildConfig=${encodeURIComponent(filter.buildConfig)}`
      : "";
    return this.list<WebhookDelivery>(`${ns(namespace)}/webhookdeliveries${query}`);
  }

  /** Newest first, as the API returns them. */
  listDeploys(
    namespace: string,
    filter: { imageStreamTag?: string | undefined } = {},
  ): Promise<Deploy[]> {
    const query = filter.imageStreamTag
      ? `?imageStreamTag=${encodeURIComponent(filter.imageStreamTag)}`
      : "";
    return this.list<Deploy>(`${ns(namespace)}/deploys${query}`);
  }

  getDeploy(namespace: string, id: string): Promise<Deploy> {
    return this.json("GET", `${ns(namespace)}/deploys/${seg(id)}`);
  }

  listBuilds(
    namespace: string,
    filter: { buildConfig?: string | undefined } = {},
  ): Promise<Build[]> {
    const query = filter.buildConfig
      ? `?buildConfig=${encodeURIComponent(filter.buildConfig)}`
      : "";
    return this.list<Build>(`${ns(namespace)}/builds${query}`);
  }

  getBuild(namespace: string, name: string): Promise<Build> {
    return this.json("GET", `${ns(namespace)}/builds/${seg(name)}`);
  }

  cancelBuild(namespace: string, name: string): Promise<Build> {
    return this.json("POST", `${ns(namespace)}/builds/${seg(name)}/cancel`);
  }

  /**
   * Yields the build log as text chunks as they arrive. With `follow`, the stream lasts until the
   * build ends; the caller reads the build afterwards for its phase (the stream carries none).
   */
  async *streamLog(
    namespace: string,
    name: string,
    options: { follow?: boolean } = {},
  ): AsyncGenerator<string> {
    const query = options.follow ? "?follow=true" : "";
    const res = await this.send("GET", `${ns(namespace)}/builds/${seg(name)}/log${query}`, {
      timeoutMs: 0,
    });
    await throwIfError(res);
    if (!res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }

  /**
   * Yields the namespace's server-sent events as they arrive, until the API ends the stream.
   * A connection that is cut, or that stays silent past the API's keep-alives (a host gone
   * without closing the socket), ends in StreamInterruptedError; `onRetry` hears the API's
   * `retry:` (how long to wait before reconnecting). Stopping the iteration closes the connection.
   */
  async *events(
    namespace: string,
    options: { onRetry?: (ms: number) => void } = {},
  ): AsyncGenerator<ServerEvent> {
    const controller = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), eventsIdleTimeoutMs);
    };
    try {
      arm();
      const res = await this.send("GET", `${ns(namespace)}/events`, {
        accept: "text/event-stream",
        timeoutMs: 0,
        signal: controller.signal,
      });
      await throwIfError(res);
      if (!res.body) return;
      const messages = res.body
        .pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, out) {
              arm(); // any byte, a keep-alive comment too, shows the connection is alive
              out.enqueue(chunk);
            },
          }),
        )
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream({ onRetry: options.onRetry }));
      try {
        for await (const message of messages) yield message;
      } catch (err) {
        const why = controller.signal.aborted
          ? `nothing heard for ${eventsIdleTimeoutMs / 1000}s`
          : "the connection was cut";
        throw new StreamInterruptedError(`the event stream of ${this.baseUrl} broke off: ${why}`, {
          cause: err,
        });
      }
    } finally {
      clearTimeout(idle);
      controller.abort();
    }
  }

  private async list<T>(path: string): Promise<T[]> {
    const body = await this.json<{ items?: T[] }>("GET", path);
    return body.items ?? [];
  }

  /** The rebuild graph; with `impact` (`ns/is:tag`), also what a change of that tag rebuilds, in order. */
  buildGraph(impact?: string): Promise<{
    nodes: {
      buildConfig: string;
      inputs: { key: string; paused: boolean }[];
      output: string | null;
      downstream: string[];
    }[];
    impact?: string[];
  }> {
    return this.json(
      "GET",
      `/apis/v1/buildgraph${impact ? `?impact=${encodeURIComponent(impact)}` : ""}`,
    );
  }

  private async json<T>(
    method: string,
    path: string,
    options: { body?: unknown } = {},
  ): Promise<T> {
    const res = await this.send(method, path, options);
    await throwIfError(res);
    return (await res.json()) as T;
  }

  private async send(
    method: string,
    path: string,
    options: {
      body?: unknown;
      stream?: { body: ReadableStream<Uint8Array>; length?: number | undefined };
      auth?: boolean;
      timeoutMs?: number;
      accept?: string;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: options.accept ?? "application/json" };
    if (options.auth !== false && this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) init.body = JSON.stringify(options.body);
    if (options.stream) {
      headers["content-type"] = "application/octet-stream";
      if (options.stream.length !== undefined)
        headers["content-length"] = String(options.stream.length);
      init.body = options.stream.body;
      // A streamed request body must say so (fetch sends it chunked while the answer may start).
      (init as RequestInit & { duplex: "half" }).duplex = "half";
    }
    if (options.signal) init.signal = options.signal;
    else if (timeoutMs > 0) init.signal = AbortSignal.timeout(timeoutMs);
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, init);
    } catch (err) {
      if (err instanceof Error && err.name === "TimeoutError")
        throw new ApiTimeoutError(this.baseUrl, timeoutMs);
      // undici reports every connect failure (refused, DNS, reset) as `TypeError: fetch failed`.
      throw new ApiUnreachableError(this.baseUrl, { cause: err });
    }
  }
}

function ns(namespace: string): string {
  return `/apis/v1/namespaces/${seg(namespace)}`;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

const reasonByStatus: Record<number, string> = {
  400: "Invalid",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  413: "PayloadTooLarge",
};

/** Turns a non-2xx answer into an ApiError, tolerating bodies that are not Kiln's error shape (a proxy's HTML). */
async function throwIfError(res: Response): Promise<void> {
  if (res.ok) return;
  const text = await res.text().catch(() => "");
  let reason = reasonByStatus[res.status] ?? (res.status >= 500 ? "InternalError" : "Unknown");
  let message = text.trim().slice(0, 500) || `${res.status} ${res.statusText}`;
  let details: ErrorDetail[] = [];
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; details?: unknown };
    if (typeof body.error === "string") reason = body.error;
    if (typeof body.message === "string") message = body.message;
    else if (typeof body.error === "string") message = body.error;
    if (Array.isArray(body.details)) {
      details = body.details
        .filter(
          (d): d is { path: unknown; message: unknown } => typeof d === "object" && d !== null,
        )
        .map((d) => ({ path: String(d.path ?? ""), message: String(d.message ?? "") }));
    }
  } catch {
    // Not JSON: keep the status-derived reason and the raw text.
  }
  throw new ApiError(res.status, reason, message, details);
}
