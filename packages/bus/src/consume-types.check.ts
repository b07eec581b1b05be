// Compile-time checks, not a test: `npm run typecheck` (in CI) fails if a @ts-expect-error line
// below stops being an error. The compiler keeps the catalogue's promise: a handler's payload
// type comes from its consumer's name.
import type { Bus } from "./bus.js";
import type { EventPayload } from "./catalog.js";

export function consumerWiring(bus: Bus): void {
  void bus.consume("scheduler-build-requested", async (request) => {
    request.requestId satisfies string;
  });
  const onImageChanged = async (change: EventPayload<"image.changed">) => void change;
  // @ts-expect-error an image.changed handler on the build.requested consumer does not compile
  void bus.consume("scheduler-build-requested", onImageChanged);
  // @ts-expect-error nor does a consumer the catalogue does not name
  void bus.consume("no-such-consumer", async () => undefined);
}
