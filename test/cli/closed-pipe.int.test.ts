/**
 * `kiln get builds | head -1`, as a user types it: the real CLI in a real shell pipeline, against
 * a small HTTP stand-in for the API that lists more builds than a pipe holds, so the CLI is
 * still writing when `head` exits and closes the pipe.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { repoRoot } from "../support/kiln-services.js";

const exec = promisify(execFile);
const kilnBin = join(repoRoot, "packages", "cli", "bin", "kiln.mjs");

const builds = Array.from({ length: 5000 }, (_, i) => ({
  apiVersion: "kiln.dev/v1",
  kind: "Build",
  metadata: {
    name: `hello-${i + 1}`,
    namespace: "default",
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: {
    buildConfig: "hello",
    number: i + 1,
    source: { type: "Git" },
    strategy: { type: "Docker" },
  },
  status: { phase: "Complete" },
}));

let server: Server;
let url = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(req.url?.includes("/builds") ? { items: builds } : { items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it("kiln get builds | head -1 prints the header and ends quietly, with no EPIPE", async () => {
  // pipefail: the pipeline's status is kiln's own, not head's.
  const { stdout, stderr } = await exec(
    "bash",
    ["-o", "pipefail", "-c", `"${process.execPath}" "${kilnBin}" get builds | head -1`],
    {
      cwd: "/",
      env: { ...process.env, KILN_API_URL: url, KILN_TOKEN: "t", KILN_NAMESPACE: "default" },
    },
  );
  expect(stdout.split("\n")[0]).toMatch(/^NAME\s/);
  expect(stderr).toBe("");
});
