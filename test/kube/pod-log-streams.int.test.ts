// These tests check the STAND-IN Kubernetes API server of @kiln/testing (packages/testing/src/kube),
// not Kubernetes: a follow stream the server closes while the container still runs (as the real
// server does on its request timeouts) ends, and a client reopening it with sinceTime gets the
// lines written since.
import { PassThrough } from "node:stream";
import { Log } from "@kubernetes/client-node";
import { expect, test } from "vitest";
import { StandInApiServer } from "@kiln/testing";

async function read(stream: PassThrough): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += String(chunk);
  return text;
}

test("dropPodLogStreams ends the follow streams of a running container without ending its log", async () => {
  await using kube = await StandInApiServer.start();
  kube.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "b" },
    spec: { containers: [{ name: "c", image: "x" }] },
    status: { phase: "Running", containerStatuses: [{ name: "c", state: { running: {} } }] },
  });
  const log = new Log(kube.kubeConfig("b"));
  kube.appendPodLog("b", "p", "c", "one", new Date(Date.now() - 2000));
  const first = new PassThrough();
  await log.log("b", "p", "c", first, { follow: true, timestamps: true });
  const firstText = read(first);
  await new Promise((resolve) => setTimeout(resolve, 50));
  kube.dropPodLogStreams("b", "p", "c");
  const lines = (await firstText).trim().split("\n");
  expect(lines.map((l) => l.slice(l.indexOf(" ") + 1))).toEqual(["one"]);

  // The container goes on; a reopened stream from the last timestamp sees the rest and follows.
  kube.appendPodLog("b", "p", "c", "two");
  const second = new PassThrough();
  await log.log("b", "p", "c", second, {
    follow: true,
    timestamps: true,
    sinceTime: lines[0]!.split(" ")[0]!,
  });
  const secondText = read(second);
  kube.appendPodLog("b", "p", "c", "three");
  kube.endPodLog("b", "p", "c");
  expect(
    (await secondText)
      .trim()
      .split("\n")
      .map((l) => l.slice(l.indexOf(" ") + 1)),
  ).toEqual(["one", "two", "three"]);
});
