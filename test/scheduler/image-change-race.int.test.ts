/**
 * The image-watcher publishes `image.changed` inside the transaction that records the tag's new
 * history item, so the scheduler can read the tag before that commit lands. The event is the
 * fact: a digest the tag's committed history does not hold yet still triggers, and an old
 * event redelivered (its digest in the history, the tag moved on) triggers nothing. Real api,
 * scheduler, PostgreSQL and NATS; no runner (builds stay Pending).
 */
import { imageChangeKey } from "@kiln/bus";
import { expect } from "vitest";
import { buildConfig, eventually, test, type Caller } from "../support/tenant-api.js";

const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

async function buildNames(call: Caller, buildConfigName: string): Promise<string[]> {
  const res = await call("GET", "/apis/v1/namespaces/default/builds");
  return res.json.items
    .filter((b: any) => b.metadata.name.startsWith(`${buildConfigName}-`))
    .map((b: any) => b.metadata.name)
    .sort();
}

async function build(call: Caller, name: string) {
  return eventually(async () => {
    const res = await call("GET", `/apis/v1/namespaces/default/builds/${name}`);
    return res.status === 200 ? res.json : undefined;
  }, `build ${name}`);
}

test("an image.changed that arrives before its tag's commit still triggers; an old one redelivered does not", async ({
  kiln,
  infra,
}) => {
  const { bootstrap, bus } = kiln;
  const follower = buildConfig("default", "follower", { from: "base:latest", trigger: true });
  const marker = buildConfig("default", "marker", { from: "other:latest", trigger: true });
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [follower, marker] })).status).toBe(
    200,
  );
  await kiln.moveTag("default/base:latest", digest(1));
  await build(bootstrap, "follower-1");

  // The event of digest(2) with the tag's row still at digest(1), as when the scheduler reads
  // before the image-watcher's transaction commits.
  const reference = (n: number) => `${infra.registry.address}/default/base@${digest(n)}`;
  const event = (n: number) => ({
    v: 1 as const,
    namespace: "default",
    imageStream: "base",
    tag: "latest",
    digest: digest(n),
    imageReference: reference(n),
    cause: { type: "RegistryPush" as const },
    at: new Date().toISOString(),
  });
  const key = imageChangeKey("default", "base", "latest");
  await bus.publish("image.changed", key, event(2), { msgId: `race-${digest(2)}` });
  const second = await build(bootstrap, "follower-2");
  expect(second.spec.triggeredBy[0]).toMatchObject({ type: "ImageChange", image: reference(2) });

  // The commit lands (its own publish is a duplicate JetStream drops), then digest(1)'s event
  // comes again past the duplicate window: the committed tag stands, nothing builds.
  await kiln.moveTag("default/base:latest", digest(2));
  await bus.publish("image.changed", key, event(1), { msgId: `redelivered-${digest(1)}` });
  // Events are handled in order: once marker-1 exists, the redelivery's pass is over.
  await kiln.moveTag("default/other:latest", digest(7));
  await build(bootstrap, "marker-1");
  expect(await buildNames(bootstrap, "follower")).toEqual(["follower-1", "follower-2"]);
});
