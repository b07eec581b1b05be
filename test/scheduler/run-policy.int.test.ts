import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect } from "vitest";
import {
  integrationTest as test,
  makeGitRepo,
  type BaseImage,
  type TestDatabase,
  type WorkerInfra,
} from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { externalAddress } from "../support/network.js";

let running: RunningKiln | undefined;
let gate: Gate | undefined;
afterEach(async () => {
  // The gate first: a build still waiting at it fails at once instead of holding up the stop.
  await gate?.close();
  gate = undefined;
  await running?.stop();
  running = undefined;
});

const at = (t: string | undefined) => (t ? Date.parse(t) : NaN);

type Fixtures = {
  infra: WorkerInfra;
  baseImage: BaseImage;
  database: TestDatabase;
  subjectPrefix: string;
};

/** The BuildConfig `app` with `runPolicy`, whose Dockerfile runs `run`, in a Kiln with two runner slots. */
async function setUp(
  { infra, baseImage, database, subjectPrefix }: Fixtures,
  runPolicy: string,
  run = "sleep 2",
): Promise<ReturnType<typeof api>> {
  const repo = await makeGitRepo({ Dockerfile: `FROM ${baseImage.ref}\nRUN ${run}\n` });
  // Two runner slots: only the run policy can keep these builds apart.
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "2" },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app" },
        spec: {
          source: { git: { uri: repo.url } },
          strategy: { type: "Docker" },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
          runPolicy,
        },
      },
    ],
  });
  return call;
}

test("Serial runs a BuildConfig's builds one at a time, in number order", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const call = await setUp({ infra, baseImage, database, subjectPrefix }, "Serial");
  for (let i = 0; i < 3; i++)
    expect(
      (await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {})).status,
    ).toBe(201);
  const builds = [];
  for (let n = 1; n <= 3; n++) builds.push(await waitForBuild(call, `app-${n}`, finished, 120_000));
  expect(builds.map((b) => b.status.phase)).toEqual(["Complete", "Complete", "Complete"]);
  expect(at(builds[1].status.startTimestamp)).toBeGreaterThanOrEqual(
    at(builds[0].status.completionTimestamp),
  );
  expect(at(builds[2].status.startTimestamp)).toBeGreaterThanOrEqual(
    at(builds[1].status.completionTimestamp),
  );
});

test("SerialLatestOnly cancels the queued builds a newer one supersedes, never the running one", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // app-1 waits at a gate until app-2, app-3 and app-4 exist, however slow the machine.
  gate = await openGate(Infinity);
  const call = await setUp(
    { infra, baseImage, database, subjectPrefix },
    "SerialLatestOnly",
    `busybox wget -Y off -q -O /dev/null ${gate.url}`,
  );
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {});
  await waitForBuild(call, "app-1", (p) => p === "Running");
  for (let i = 0; i < 3; i++)
    expect(
      (await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {})).status,
    ).toBe(201);
  gate.release();
  const [one, two, three, four] = [
    await waitForBuild(call, "app-1", finished),
    await waitForBuild(call, "app-2", finished),
    await waitForBuild(call, "app-3", finished),
    await waitForBuild(call, "app-4", finished),
  ];
  expect(one.status.phase).toBe("Complete");
  expect([two.status.phase, three.status.phase]).toEqual(["Cancelled", "Cancelled"]);
  expect(two.status.message).toContain("SerialLatestOnly");
  expect(four.status.phase).toBe("Complete");
  expect(at(four.status.startTimestamp)).toBeGreaterThanOrEqual(at(one.status.completionTimestamp));
});

test("Parallel starts a BuildConfig's builds together", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  // Each build's RUN step waits at a gate that opens only when both builds wait at it, so the
  // builds can only finish by running at the same time, however slow the machine. Were they
  // serialised, the first would wait alone and the second never start.
  gate = await openGate(2);
  const call = await setUp(
    { infra, baseImage, database, subjectPrefix },
    "Parallel",
    `busybox wget -Y off -q -O /dev/null ${gate.url}`,
  );
  for (let i = 0; i < 2; i++)
    expect(
      (await call("POST", "/apis/v1/namespaces/default/buildconfigs/app/instantiate", {})).status,
    ).toBe(201);
  if (!(await gate.opened(120_000))) {
    const phases = await Promise.all(
      ["app-1", "app-2"].map(
        async (name) =>
          `${name} ${(await call("GET", `/apis/v1/namespaces/default/builds/${name}`)).json?.status?.phase}`,
      ),
    );
    expect.fail(
      `the two builds were never running at once: ${gate.arrivals} of 2 reached the gate in 120 s (${phases.join(", ")})`,
    );
  }
  const [a, b] = [
    await waitForBuild(call, "app-1", finished),
    await waitForBuild(call, "app-2", finished),
  ];
  expect([a.status.phase, b.status.phase]).toEqual(["Complete", "Complete"]);
  // The recorded times show the overlap too: each started before the other finished.
  expect(at(b.status.startTimestamp)).toBeLessThan(at(a.status.completionTimestamp));
  expect(at(a.status.startTimestamp)).toBeLessThan(at(b.status.completionTimestamp));
  // Side by side on one runner, each build pushed and recorded its own image, not the other's.
  expect(a.status.output.digest).not.toBe(b.status.output.digest);
  for (const build of [a, b]) {
    const manifest = (await (
      await fetch(`${infra.registry.url}/v2/default/app/manifests/${build.status.output.digest}`, {
        headers: { authorization: infra.registry.authorization, accept: ociManifest },
      })
    ).json()) as { config: { digest: string } };
    const config = (await (
      await fetch(`${infra.registry.url}/v2/default/app/blobs/${manifest.config.digest}`, {
        headers: { authorization: infra.registry.authorization },
      })
    ).json()) as { config: { Labels: Record<string, string> } };
    expect(config.config.Labels["kiln.dev/build"]).toBe(build.metadata.name);
  }
});

const ociManifest =
  "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

interface Gate {
  /** What a RUN step fetches to pass the gate. */
  url: string;
  /** Requests that reached the gate so far. */
  readonly arrivals: number;
  /** Whether the gate opened within `ms`. */
  opened(ms: number): Promise<boolean>;
  /** Opens the gate now, for whoever waits and whoever comes later. */
  release(): void;
  close(): Promise<void>;
}

/**
 * An HTTP barrier: requests wait unanswered until `parties` of them wait at once (or until
 * `release()`), then all are answered, and so is every later one. Closing it drops the
 * requests still waiting.
 */
async function openGate(parties: number): Promise<Gate> {
  const waiting = new Set<ServerResponse>();
  let arrivals = 0;
  let passed = false;
  let open!: () => void;
  const isOpen = new Promise<void>((resolve) => (open = resolve));
  const server = createServer((_req, res) => {
    arrivals += 1;
    if (passed) return void res.end("open\n");
    // A request given up (its build killed) no longer waits.
    waiting.add(res);
    res.on("close", () => waiting.delete(res));
    if (waiting.size >= parties) release();
  });
  const release = () => {
    passed = true;
    for (const r of waiting) r.end("open\n");
    waiting.clear();
    open();
  };
  // Not on loopback: build steps reach only the network out, never this host's loopback.
  const host = externalAddress();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}/`,
    release,
    get arrivals() {
      return arrivals;
    },
    async opened(ms) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>(
        (resolve) => (timer = setTimeout(() => resolve(false), ms)),
      );
      try {
        return await Promise.race([isOpen.then(() => true as const), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
