/**
 * The api's HTTP timeouts against raw TCP clients that send half a request (a slowloris), set
 * short here through the api's own `timeouts` option (API_HEADERS_TIMEOUT_MS, …; defaults 10 s,
 * 15 min, 60 s): each slow connection is closed within its timeout, while a normal request, a
 * followed log and a steady upload go on unaffected.
 */
import type { HttpTimeouts } from "@kiln/runtime";
import { expect } from "vitest";
import { slowClient, type SlowClientKind } from "../support/slow-clients.js";
import {
  bootstrapToken,
  buildConfig,
  eventually,
  kilnFixture,
  test as tenantTest,
  type TenantApi,
} from "../support/tenant-api.js";

const timeouts: HttpTimeouts = {
  headersTimeoutMs: 600,
  requestTimeoutMs: 1_500,
  idleTimeoutMs: 1_000,
  keepAliveTimeoutMs: 1_000,
};
/** Node looks for expired requests every quarter of the shorter deadline; a loaded machine is slower. */
const slack = 1_000;

const test = tenantTest.extend<{ apiTimeouts: HttpTimeouts | undefined; kiln: TenantApi }>({
  apiTimeouts: async ({}, use) => use(timeouts),
  kiln: kilnFixture,
});

test("half-sent requests are cut off within the configured timeouts while normal requests succeed", async ({
  kiln,
}) => {
  const clients = 20;
  // A route that reads its body, with a token, so a half-sent body is waited for.
  const apply = { path: "/apis/v1/apply", headers: { Authorization: `Bearer ${bootstrapToken}` } };
  const slow = (kind: SlowClientKind) =>
    Array.from({ length: clients }, () => slowClient(kiln.url, kind, apply));
  const pending = {
    silent: slow("silent"),
    halfHeaders: slow("halfHeaders"),
    dripHeaders: slow("dripHeaders"),
    halfBody: slow("halfBody"),
    dripBody: slow("dripBody"),
  };

  // While a hundred connections hang, the api answers as ever.
  for (let i = 0; i < 5; i++) {
    expect((await fetch(`${kiln.url}/healthz`)).status).toBe(200);
    expect(
      (
        await kiln.bootstrap("POST", "/apis/v1/apply", {
          items: [buildConfig("default", `app${i}`)],
        })
      ).status,
    ).toBe(200);
  }

  const ends = async (kind: keyof typeof pending) => Promise.all(pending[kind]);
  // Headers unfinished (sent at once, dripped, or none at all): the header deadline.
  for (const kind of ["silent", "halfHeaders", "dripHeaders"] as const) {
    for (const end of await ends(kind)) {
      expect(end.closedAfterMs, kind).toBeGreaterThanOrEqual(timeouts.headersTimeoutMs - 50);
      expect(end.closedAfterMs, kind).toBeLessThan(timeouts.headersTimeoutMs + slack);
    }
  }
  expect((await ends("halfHeaders"))[0]!.received).toMatch(/^HTTP\/1\.1 408 /);
  // A body that stops: the idle timeout (or the request's, whichever is first).
  for (const end of await ends("halfBody")) {
    expect(end.closedAfterMs).toBeGreaterThanOrEqual(timeouts.idleTimeoutMs - 50);
    expect(end.closedAfterMs).toBeLessThan(timeouts.requestTimeoutMs + slack);
  }
  // A body dripped a byte at a time is never idle: the request deadline ends it.
  for (const end of await ends("dripBody")) {
    expect(end.closedAfterMs).toBeGreaterThanOrEqual(timeouts.requestTimeoutMs - 50);
    expect(end.closedAfterMs).toBeLessThan(timeouts.requestTimeoutMs + slack);
  }
  expect(
    (await kiln.bootstrap("GET", "/apis/v1/namespaces/default/buildconfigs")).json.items,
  ).toHaveLength(5);
});

test("a followed log streams on past the idle and request timeouts, and a steady upload goes through", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  expect(
    (await bootstrap("POST", "/apis/v1/apply", { items: [buildConfig("default", "app")] })).status,
  ).toBe(200);
  expect(
    (await bootstrap("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {}))
      .status,
  ).toBe(201);
  await eventually(async () => {
    const res = await bootstrap("GET", "/apis/v1/namespaces/default/builds/app-1");
    return res.json.status.phase === "Pending" ? true : undefined;
  }, "app-1 dispatched");

  // No runner: the build stays Pending and its log prints nothing, so the stream is quiet.
  const controller = new AbortController();
  const log = await fetch(`${kiln.url}/apis/v1/namespaces/default/builds/app-1/log?follow=true`, {
    headers: { authorization: `Bearer ${bootstrapToken}` },
    signal: controller.signal,
  });
  expect(log.status).toBe(200);
  const reader = log.body!.getReader();
  let closed: string | null = null;
  const reading = (async () => {
    try {
      while (!(await reader.read()).done);
      closed = "ended";
    } catch (error) {
      if (!controller.signal.aborted) closed = `cut off: ${String(error)}`;
    }
  })();
  await new Promise((r) => setTimeout(r, timeouts.requestTimeoutMs + timeouts.idleTimeoutMs + 500));
  expect(closed).toBeNull();
  controller.abort();
  await reading;

  // An upload that keeps sending (a chunk every 300 ms for over a second) is never idle.
  const chunks = Array.from({ length: 4 }, (_, i) => new TextEncoder().encode(`chunk ${i}\n`));
  const body = new ReadableStream<Uint8Array>({
    async pull(stream) {
      const next = chunks.shift();
      if (!next) return stream.close();
      await new Promise((r) => setTimeout(r, 300));
      stream.enqueue(next);
    },
  });
  const upload = await fetch(
    `${kiln.url}/apis/v1/namespaces/default/buildconfigs/app/instantiatebinary?asFile=notes.txt`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${bootstrapToken}`,
        "content-type": "application/octet-stream",
      },
      body,
      duplex: "half",
    } as RequestInit,
  );
  expect(upload.status).toBe(201);
  expect(((await upload.json()) as { metadata: { name: string } }).metadata.name).toBe("app-2");
});
