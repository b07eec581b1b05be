import type { Bus } from "./bus.js";
import type { EventInput } from "./catalog.js";

/** What a caller says of a build it wants; the version and the time are filled in. */
export type BuildRequest = Omit<EventInput<"build.requested">, "v" | "requestedAt">;

/**
 * The one way to ask for a build (the api's start, binary and ConfigChange builds, webhooks,
 * the git poller). The message id is `build-request:<requestId>`, so a retried publish of the
 * same request is dropped by the stream and the scheduler makes one build of it.
 */
export function requestBuild(bus: Bus, request: BuildRequest): Promise<{ seq: number }> {
  return bus.publish(
    "build.requested",
    request.requestId,
    { v: 1, ...request, requestedAt: new Date().toISOString() },
    { msgId: buildRequestMessageId(request.requestId) },
  );
}

export const buildRequestMessageId = (requestId: string) => `build-request:${requestId}`;
