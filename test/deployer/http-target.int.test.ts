// The deployer's generic HTTP target, against real NATS and Postgres and a real local HTTP server
// that receives the POSTs. (The Kubernetes API of the harness is the STAND-IN of @kiln/testing,
// not Kubernetes; these tests annotate no workload, so it only answers the deployer's watches.)
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { integrationTest as test } from "@kiln/testing";
import { expect } from "vitest";
import { digestOf, startDeployer, until } from "./support.js";

const secret = "a-long-random-webhook-secret";

type Received = { headers: IncomingHttpHeaders; raw: string };

/** A receiver answering each POST with the next status of `statuses` (the last one repeats). */
async function receiver(
  statuses: number[],
): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      received.push({ headers: req.headers, raw });
      res.writeHead(statuses[Math.min(received.length - 1, statuses.length - 1)]!).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/kiln`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What a receiver does: recompute the HMAC of the raw body and compare in constant time. */
function verified(r: Received): boolean {
  const header = String(r.headers["x-kiln-signature-256"] ?? "");
  const expected = `sha256=${createHmac("sha256", secret).update(r.raw).digest("hex")}`;
  return (
    header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected))
  );
}

test("an HTTP target gets a signed POST for every image change, retried until it answers 2xx", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const flaky = await receiver([503, 200]);
  const refusing = await receiver([400]);
  try {
    await using h = await startDeployer(
      { infra, database, subjectPrefix },
      { http: { urls: [flaky.url, refusing.url], secret } },
    );
    const ref = await h.moveTag("team", "app", "latest", digestOf(21));

    const done = await h.waitForDeploy(
      (d) => d.targetUrl === flaky.url,
      ["Complete", "Failed"],
      "the flaky target's deploy",
    );
    expect(done).toMatchObject({
      status: "Complete",
      targetKind: "HTTP",
      namespace: "team",
      imageStreamTag: "team/app:latest",
      digest: digestOf(21),
      attempts: 2,
      message: `${flaky.url} answered 200`,
    });
    expect(flaky.received).toHaveLength(2);
    for (const r of flaky.received) {
      expect(verified(r)).toBe(true);
      expect(r.headers).toMatchObject({
        "content-type": "application/json",
        "x-kiln-event": "image.changed",
        "x-kiln-delivery": done.id,
      });
    }
    // The retry is the same delivery: same body, same signature.
    expect(flaky.received[1]!.raw).toBe(flaky.received[0]!.raw);
    expect(JSON.parse(flaky.received[0]!.raw)).toEqual({
      apiVersion: "kiln.dev/v1",
      kind: "ImageChange",
      deployId: done.id,
      namespace: "team",
      imageStream: "app",
      tag: "latest",
      imageStreamTag: "team/app:latest",
      digest: digestOf(21),
      imageReference: ref,
      cause: { type: "Build", build: "app-1" },
      at: expect.any(String),
    });

    // A 400 is not retried: the deploy fails at once, naming the answer.
    const failed = await h.waitForDeploy(
      (d) => d.targetUrl === refusing.url,
      ["Complete", "Failed"],
      "the refusing target's deploy",
    );
    expect(failed).toMatchObject({
      status: "Failed",
      reason: "HttpTargetFailed",
      attempts: 1,
      message: `${refusing.url} answered 400`,
    });
    expect(refusing.received).toHaveLength(1);

    // The secret never reaches a log line.
    expect(h.logs.lines.some((l) => JSON.stringify(l).includes(secret))).toBe(false);

    // A second change is a second delivery.
    await h.moveTag("team", "app", "latest", digestOf(22));
    await until(() => flaky.received.length === 3, "the second delivery");
    expect(JSON.parse(flaky.received[2]!.raw)).toMatchObject({
      digest: digestOf(22),
      previousDigest: digestOf(21),
    });
    expect(verified(flaky.received[2]!)).toBe(true);
  } finally {
    await flaky.close();
    await refusing.close();
  }
});
