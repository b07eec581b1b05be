import { createHash, createHmac } from "node:crypto";
import type { ImageChangedV1 } from "@kiln/bus";
import { DeployReason, imageStreamTagKey, isTerminalDeployPhase } from "@kiln/domain";
import { backoffMs } from "@kiln/runtime";
import type { Logger } from "pino";
import type { DeployRecorder } from "./deploy-recorder.js";

/** The header carrying the body's HMAC-SHA256, GitHub's format: `sha256=<hex>`. */
export const signatureHeader = "X-Kiln-Signature-256";

/** `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret`: what a receiver recomputes and compares (in constant time). */
export function signBody(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface HttpTargetsOptions {
  /** URLs that receive a POST for every image change (DEPLOYER_HTTP_TARGETS). */
  urls: readonly string[];
  /** HMAC key of the signature header (DEPLOYER_HTTP_SECRET). Never logged. */
  secret: string;
  recorder: DeployRecorder;
  logger: Logger;
  /** POSTs per image change and URL before the deploy ends Failed. @default 5 */
  attempts?: number;
  /** Wait before the second attempt; doubles each time. @default 500 */
  backoffMs?: number;
  /** Per-request timeout. @default 10000 */
  timeoutMs?: number;
}

/** A URL fit for a log line or a record: no user info, no query (either may hold a token). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "[unparseable url]";
  }
}

/**
 * The generic HTTP target, for consumers outside Kubernetes: every image change is POSTed as a
 * signed JSON event to each configured URL, with retries and backoff, and recorded as a deploy
 * (Complete on a 2xx, Failed with HttpTargetFailed once the attempts are spent or on a 4xx that
 * says retrying cannot help). `X-Kiln-Delivery` carries the deploy id, the same on every retry
 * and redelivery, so a receiver can drop doubles.
 */
export class HttpDeployTargets {
  private readonly log: Logger;
  constructor(private readonly options: HttpTargetsOptions) {
    this.log = options.logger.child({ component: "http-targets" });
  }

  async onImageChanged(
    change: ImageChangedV1,
    working: () => void = () => undefined,
  ): Promise<void> {
    await Promise.all(this.options.urls.map((url) => this.deliver(url, change, working)));
  }

  private async deliver(url: string, change: ImageChangedV1, working: () => void): Promise<void> {
    const tagKey = imageStreamTagKey(change.namespace, `${change.imageStream}:${change.tag}`);
    const shown = displayUrl(url);
    const { recorder } = this.options;
    const { deploy } = await recorder.begin({
      // The URL may carry a token: the key holds its hash, the record only what displayUrl shows.
      key: `HTTP/${createHash("sha256").update(url).digest("hex").slice(0, 16)}:${tagKey}@${change.digest}`,
      namespace: change.namespace,
      targetKind: "HTTP",
      targetUrl: shown,
      imageStreamTag: tagKey,
      digest: change.digest,
      imageReference: change.imageReference,
      causeType: change.cause.type,
      causeBuild: change.cause.build ?? null,
      causeMessage: change.cause.message ?? null,
      status: "Pending",
    });
    if (isTerminalDeployPhase(deploy.status)) return;
    const body = JSON.stringify({
      apiVersion: "kiln.dev/v1",
      kind: "ImageChange",
      deployId: deploy.id,
      namespace: change.namespace,
      imageStream: change.imageStream,
      tag: change.tag,
      imageStreamTag: tagKey,
      digest: change.digest,
      imageReference: change.imageReference,
      ...(change.previousDigest ? { previousDigest: change.previousDigest } : {}),
      cause: change.cause,
      at: change.at,
    });
    const headers = {
      "content-type": "application/json",
      "user-agent": "kiln-deployer",
      "x-kiln-event": "image.changed",
      "x-kiln-delivery": deploy.id,
      [signatureHeader.toLowerCase()]: signBody(this.options.secret, body),
    };
    const attempts = this.options.attempts ?? 5;
    const startedAt = new Date();
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let retry = true;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await res.body?.cancel();
        if (res.ok) {
          await recorder.transition(deploy, {
            status: "Complete",
            message: `${shown} answered ${res.status}`,
            attempts: deploy.attempts + attempt,
            startedAt,
          });
          this.log.info(
            {
              deployId: deploy.id,
              url: shown,
              imageStreamTag: tagKey,
              digest: change.digest,
              status: res.status,
              attempts: attempt,
            },
            "image change delivered",
          );
          return;
        }
        last = `${shown} answered ${res.status}`;
        // A 4xx other than timeout or rate limit will be the same next time.
        retry = res.status >= 500 || res.status === 408 || res.status === 429;
      } catch (error) {
        last = `${shown}: ${error instanceof Error ? error.message : String(error)}`;
      }
      this.log.warn(
        { deployId: deploy.id, url: shown, attempt, err: last },
        "image change delivery failed",
      );
      if (!retry || attempt === attempts) {
        await recorder.transition(deploy, {
          status: "Failed",
          reason: DeployReason.HttpTargetFailed,
          message: last,
          attempts: deploy.attempts + attempt,
          startedAt,
        });
        return;
      }
      working();
      const delay = backoffMs(attempt, { baseMs: this.options.backoffMs ?? 500 });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
