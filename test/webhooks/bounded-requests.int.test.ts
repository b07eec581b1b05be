/**
 * The webhook receiver's bounds, on its real HTTP port: raw TCP clients that send half a request
 * are closed within the receiver's timeouts (short here through its `timeouts` option,
 * WEBHOOK_HEADERS_TIMEOUT_MS, …; defaults 10 s, 30 s, 30 s) while a git host's delivery goes
 * through, and a generic hook's env too large for a build to carry is refused and stored as such.
 */
import { createHmac, randomUUID } from "node:crypto";
import {
  applyResources,
  createDatabase,
  listWebhookDeliveries,
  type WebhookDeliveryRecord,
} from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { createLogger, type HttpTimeouts } from "@kiln/runtime";
import { connectTestBus, integrationTest as baseTest } from "@kiln/testing";
import { WebhookReceiver } from "@kiln/webhooks";
import type { Bus } from "@kiln/bus";
import { expect } from "vitest";
import { slowClient, type SlowClientKind } from "../support/slow-clients.js";

const logger = createLogger({ service: "webhook-bounds-test", level: "silent" });
const secret = "gh-secret-0123456789";
const timeouts: HttpTimeouts = {
  headersTimeoutMs: 600,
  requestTimeoutMs: 1_500,
  idleTimeoutMs: 1_000,
  keepAliveTimeoutMs: 1_000,
};
/** Node looks for expired requests every quarter of the shorter deadline; a loaded machine is slower. */
const slack = 1_000;

const test = baseTest.extend<{
  hooks: { url: string; bus: Bus; deliveries: () => Promise<WebhookDeliveryRecord[]> };
}>({
  hooks: async ({ infra, database, subjectPrefix }, use) => {
    const db = createDatabase(database.url);
    const bus = await connectTestBus(infra, { prefix: subjectPrefix, name: "hooks", logger });
    await applyResources(
      db.db,
      parseResources([
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name: "app", namespace: "default" },
          spec: {
            source: { git: { uri: "https://git.example.test/app.git", ref: "main" } },
            strategy: { type: "Docker" },
            triggers: [
              { type: "GitHub", github: { secret } },
              { type: "Generic", generic: { secret, allowEnv: true } },
            ],
          },
        },
      ]),
      infra.secrets,
    );
    const receiver = new WebhookReceiver({
      db: db.db,
      bus,
      logger,
      host: "127.0.0.1",
      port: 0,
      secrets: infra.secrets,
      timeouts,
    });
    const url = await receiver.start();
    try {
      await use({ url, bus, deliveries: () => listWebhookDeliveries(db.db, "default") });
    } finally {
      await receiver.stop();
      await bus.drain();
      await db.close();
    }
  },
});

function push(url: string) {
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before: "1".repeat(40),
    after: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    head_commit: { id: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", message: "change" },
    repository: { default_branch: "main" },
  });
  return fetch(`${url}/hooks/default/app/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
    },
    body,
  });
}

test("half-sent requests are closed within the receiver's timeouts while a delivery goes through", async ({
  hooks,
}) => {
  const slow = (kind: SlowClientKind) =>
    Array.from({ length: 20 }, () =>
      slowClient(hooks.url, kind, { path: "/hooks/default/app/github" }),
    );
  const headerKinds = ["silent", "halfHeaders", "dripHeaders"] as const;
  const pending = {
    headers: headerKinds.flatMap(slow),
    halfBody: slow("halfBody"),
    dripBody: slow("dripBody"),
  };
  for (let i = 0; i < 5; i++) expect((await push(hooks.url)).status).toBe(202);

  for (const end of await Promise.all(pending.headers)) {
    expect(end.closedAfterMs).toBeGreaterThanOrEqual(timeouts.headersTimeoutMs - 50);
    expect(end.closedAfterMs).toBeLessThan(timeouts.headersTimeoutMs + slack);
  }
  for (const end of await Promise.all(pending.halfBody)) {
    expect(end.closedAfterMs).toBeGreaterThanOrEqual(timeouts.idleTimeoutMs - 50);
    expect(end.closedAfterMs).toBeLessThan(timeouts.requestTimeoutMs + slack);
  }
  for (const end of await Promise.all(pending.dripBody)) {
    expect(end.closedAfterMs).toBeGreaterThanOrEqual(timeouts.requestTimeoutMs - 50);
    expect(end.closedAfterMs).toBeLessThan(timeouts.requestTimeoutMs + slack);
  }
  expect((await push(hooks.url)).status).toBe(202);
});

test("a generic hook's env too large for a build to carry is refused 413 naming the limit, and no build is asked for", async ({
  hooks,
}) => {
  const send = (env: unknown[], delivery: string) =>
    fetch(`${hooks.url}/hooks/default/app/generic`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${secret}`,
        "x-request-id": delivery,
      },
      body: JSON.stringify({ git: { ref: "main" }, env }),
    });
  // The generic payload allows 256 variables of 64 KiB each; fifteen of them are too many.
  const big = Array.from({ length: 15 }, (_, i) => ({ name: `V${i}`, value: "x".repeat(65_536) }));
  const refused = await send(big, "big-env");
  expect(refused.status).toBe(413);
  expect(await refused.json()).toEqual({
    error: "PayloadTooLarge",
    message: expect.stringMatching(
      /^env: 983,\d{3} bytes is over the 900 KiB \(921,600 bytes\) a build can carry$/,
    ),
  });
  expect(await hooks.bus.count("build.requested", "git-generic-big-env")).toBe(0);
  // The owner of the BuildConfig sees why in `kiln events`.
  expect(await hooks.deliveries()).toMatchObject([
    { deliveryId: "big-env", outcome: "rejected", reason: "PayloadTooLarge" },
  ]);
  const fine = await send([{ name: "SMALL", value: "x" }], "small-env");
  expect(fine.status).toBe(202);
  expect((await hooks.bus.lastEvent("build.requested", "git-generic-small-env"))?.env).toEqual([
    { name: "SMALL", value: "x" },
  ]);
});
