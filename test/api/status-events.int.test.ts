/**
 * The api waits on build status events, not on a timer: a start answers 201 once the scheduler's
 * `New` is heard, and a followed log ends once the build's end is heard. Real api and scheduler on
 * real NATS and PostgreSQL; a stand-in runner (this test) publishes Running, the log and the end.
 * The scheduler is stopped before the end, so nothing stores it: only the event can end the log
 * (a log that watched PostgreSQL would never end), and the slow safety read of PostgreSQL, for an
 * event the api missed, is shown by storing an end that is never published.
 */
import { createApiServer } from "@kiln/api";
import type { Bus } from "@kiln/bus";
import { applyBuildStatus, getBuild } from "@kiln/db";
import { createLogger } from "@kiln/runtime";
import { expect } from "vitest";
import { test, type SchedulerOnly } from "../support/scheduler-only.js";

const token = "status-events-token-0123456789abcdef";
const logger = createLogger({ service: "status-events-test", level: "silent" });

/** The api in-process beside the fixture's scheduler, listening on a loopback port. */
async function startApi({ infra, db, bus }: SchedulerOnly) {
  const app = createApiServer({
    db: db.db,
    bus,
    logger,
    token,
    registry: infra.registry.address,
    secrets: infra.secrets,
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { app, url, call };
}

const hello = {
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name: "hello" },
  spec: {
    source: { git: { uri: "https://git.example.test/app.git" } },
    strategy: { type: "Docker" },
    output: { to: { kind: "ImageStreamTag", name: "hello:latest" } },
  },
};
const instantiate = "/apis/v1/namespaces/default/buildconfigs/hello/instantiate";

/** What a runner publishes for a build: its status, attempt 1. */
function publishStatus(
  bus: Bus,
  build: { id: string; name: string },
  phase: "Running" | "Complete",
) {
  return bus.publish(
    "build.status-changed",
    build.id,
    {
      v: 1,
      buildId: build.id,
      namespace: "default",
      name: build.name,
      phase,
      attempt: 1,
      at: new Date().toISOString(),
    },
    { msgId: `${build.id}:${phase}:1` },
  );
}

function publishLines(bus: Bus, buildId: string, seq: number, lines: string[]) {
  return bus.publish(
    "build.log-appended",
    buildId,
    { v: 1, buildId, attempt: 1, seq, lines, at: new Date().toISOString() },
    { msgId: `${buildId}:1:log:${seq}` },
  );
}

/** Reads a streamed response to its end: its text, and when it ended. */
async function readToEnd(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text, endedAt: Date.now() };
    text += decoder.decode(value, { stream: true });
  }
}

/** Waits until the scheduler has dispatched NAME (Pending in PostgreSQL); returns it. */
async function dispatched(scheduling: SchedulerOnly, name: string) {
  await expect
    .poll(async () => (await getBuild(scheduling.db.db, "default", name))?.phase, {
      timeout: 10_000,
    })
    .toBe("Pending");
  return (await getBuild(scheduling.db.db, "default", name))!;
}

test("instantiate answers 201 with the build as soon as the scheduler has recorded it, each start its own", async ({
  scheduling,
}) => {
  await scheduling.scheduler.start();
  const { app, call } = await startApi(scheduling);
  try {
    expect((await call("POST", "/apis/v1/apply", { items: [hello] })).status).toBe(200);
    for (const n of [1, 2, 3]) {
      const started = Date.now();
      const res = await call("POST", instantiate, { requestId: `one-by-one-${n}` });
      expect(res.status).toBe(201);
      expect(res.json.metadata.name).toBe(`hello-${n}`);
      // The New is heard within milliseconds of the scheduler's commit; 1 s is for a loaded machine.
      expect(Date.now() - started).toBeLessThan(1_000);
    }
    // A request id sent again: its build's New was heard long ago, the one read finds it.
    const again = await call("POST", instantiate, { requestId: "one-by-one-2" });
    expect(again.status).toBe(201);
    expect(again.json.metadata.name).toBe("hello-2");

    // Ten starts at once: each New is heard by every waiting start, each answers with its own.
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call("POST", instantiate, { requestId: `at-once-${i}` }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    const names = answers.map((a) => a.json.metadata.name as string);
    expect(new Set(names).size).toBe(10);
    expect([...names].sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `hello-${i + 4}`).sort(),
    );
  } finally {
    await app.close();
  }
});

test("a followed log ends within a short time of its build's end event, every line written", async ({
  scheduling,
}) => {
  await scheduling.scheduler.start();
  const { app, url, call } = await startApi(scheduling);
  try {
    expect((await call("POST", "/apis/v1/apply", { items: [hello] })).status).toBe(200);
    expect((await call("POST", instantiate, {})).status).toBe(201);
    const build = await dispatched(scheduling, "hello-1");
    // From here on nothing stores what the build does: its end reaches the api as an event only.
    await scheduling.scheduler.stop();

    const res = await fetch(`${url}/apis/v1/namespaces/default/builds/hello-1/log?follow=true`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const reading = readToEnd(res);
    await publishStatus(scheduling.bus, build, "Running");
    await publishLines(scheduling.bus, build.id, 0, ["--> FetchSource", "cloned"]);
    await publishLines(scheduling.bus, build.id, 1, ["--> Build", "built"]);
    await publishLines(scheduling.bus, build.id, 2, ["Pushed"]);
    const endPublishedAt = Date.now();
    await publishStatus(scheduling.bus, build, "Complete");

    const { text, endedAt } = await reading;
    expect(text).toBe("--> FetchSource\ncloned\n--> Build\nbuilt\nPushed\n");
    // Heard at once (a poll of PostgreSQL would wait for ever here: nothing stores the end);
    // 1 s is for a loaded machine, well short of the 5 s safety read.
    expect(endedAt - endPublishedAt).toBeLessThan(1_000);
    expect((await getBuild(scheduling.db.db, "default", "hello-1"))!.phase).toBe("Pending");
  } finally {
    await app.close();
  }
});

test("a followed log whose end event the api never hears ends by the slow read of PostgreSQL", async ({
  scheduling,
}) => {
  await scheduling.scheduler.start();
  const { app, url, call } = await startApi(scheduling);
  try {
    expect((await call("POST", "/apis/v1/apply", { items: [hello] })).status).toBe(200);
    expect((await call("POST", instantiate, {})).status).toBe(201);
    const build = await dispatched(scheduling, "hello-1");
    await scheduling.scheduler.stop();

    const res = await fetch(`${url}/apis/v1/namespaces/default/builds/hello-1/log?follow=true`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const reading = readToEnd(res);
    await publishLines(scheduling.bus, build.id, 0, ["only line"]);
    // Stored as the scheduler would store it, but never published: as if published while the
    // api's NATS connection was away.
    const storedAt = Date.now();
    const { applied } = await applyBuildStatus(scheduling.db.db, {
      buildId: build.id,
      phase: "Complete",
      attempt: 1,
      at: new Date(),
    });
    expect(applied).toBe(true);

    const { text, endedAt } = await reading;
    expect(text).toBe("only line\n");
    expect(endedAt - storedAt).toBeLessThan(5_000 + 1_500);
  } finally {
    await app.close();
  }
});

test("a followed log of a running build ends within seconds of its reader's token being revoked", async ({
  scheduling,
}) => {
  await scheduling.scheduler.start();
  const { app, url, call } = await startApi(scheduling);
  try {
    expect((await call("POST", "/apis/v1/apply", { items: [hello] })).status).toBe(200);
    expect((await call("POST", instantiate, {})).status).toBe(201);
    const build = await dispatched(scheduling, "hello-1");
    const viewer = await call("POST", "/apis/v1/tokens", {
      name: "log-viewer",
      roles: [{ namespace: "default", role: "view" }],
    });
    expect(viewer.status).toBe(201);
    const res = await fetch(`${url}/apis/v1/namespaces/default/builds/hello-1/log?follow=true`, {
      headers: { authorization: `Bearer ${viewer.json.token as string}` },
    });
    expect(res.status).toBe(200);
    const reading = readToEnd(res);
    await publishStatus(scheduling.bus, build, "Running");
    await publishLines(scheduling.bus, build.id, 0, ["before the revocation"]);
    expect((await call("DELETE", "/apis/v1/tokens/log-viewer")).status).toBe(200);
    const revokedAt = Date.now();
    // The build runs on, and nothing ends it: only the revocation can end this log.
    const { text, endedAt } = await reading;
    expect(text).toBe("before the revocation\n");
    expect(endedAt - revokedAt).toBeLessThan(5_000 + 1_500);
  } finally {
    await app.close();
  }
});
