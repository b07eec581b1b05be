/**
 * Git webhook benchmark (not a timed test), against the real services and infrastructure:
 *   (a) latency: a signed GitHub push → the build's `status.startTimestamp` (Running), one
 *       delivery at a time. The BuildConfig's repository does not exist, so each build reaches
 *       Running and then fails at once in FetchSource: what is measured is Kiln's path
 *       (receiver → JetStream → scheduler → Postgres → dispatch → runner), not git or buildah.
 *   (b) throughput: signed deliveries per second that are verified, parsed, matched, stored and
 *       acknowledged (202). They are pushes to a branch the BuildConfig does not build, so each
 *       is stored as skipped and none starts a build; every one is counted in the database after.
 *
 *   npx tsx bench/webhooks.bench.ts [--deliveries 100] [--throughput-max 20000] [--throughput-seconds 10] [--concurrency 32] [--client auto|wrk|node]
 */
import { execFile } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { api } from "../test/support/kiln-services.js";
import {
  benchNodeOptions,
  fileStamp,
  machineFacts,
  startBenchEnvironment,
  startBenchKiln,
} from "./support.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(repoRoot, "bench", "results");
const secret = "bench-webhook-secret-0123";
// With authentication everywhere (NATS NKeys and permissions, PostgreSQL SCRAM as a
// non-superuser, sealed secrets): what it must still meet.
const TARGET_P99_MS = 40;
const TARGET_RATE = 8_000;

const { values: args } = parseArgs({
  options: {
    deliveries: { type: "string", default: "100" },
    "throughput-max": { type: "string", default: "20000" },
    "throughput-seconds": { type: "string", default: "10" },
    concurrency: { type: "string", default: "32" },
    /** Who sends the load: `wrk` (Debian's wrk, its own process, cheap on CPU), `node` (node:http in this process), `auto` = wrk when installed. */
    client: { type: "string", default: "auto" },
  },
});
const deliveries = Number(args.deliveries);
const throughputMax = Number(args["throughput-max"]);
const throughputSeconds = Number(args["throughput-seconds"]);
const concurrency = Number(args.concurrency);
if (!["auto", "wrk", "node"].includes(args.client))
  throw new Error(`--client ${args.client}: auto, wrk or node`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sign = (body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
function pushBody(ref: string, commit: string): string {
  return JSON.stringify({
    ref,
    before: "1".repeat(40),
    after: commit,
    head_commit: { id: commit, message: "bench" },
    repository: { default_branch: "main" },
  });
}

type Summary = { n: number; p50: number; p90: number; p99: number; max: number; mean: number };
function summarize(xs0: number[]): Summary {
  const xs = [...xs0].sort((a, b) => a - b);
  const pct = (p: number) =>
    xs[Math.min(xs.length, Math.max(1, Math.ceil((p / 100) * xs.length))) - 1] ?? NaN;
  return {
    n: xs.length,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: xs[xs.length - 1] ?? NaN,
    mean: xs.reduce((a, b) => a + b, 0) / (xs.length || 1),
  };
}

async function main(): Promise<number> {
  const env = await startBenchEnvironment("wh");
  try {
    console.log(
      "starting nats, postgres, registry and api, scheduler, build-runner, webhook-receiver",
    );
    const { servers, workDir } = env;
    const kiln = await startBenchKiln(env, {
      services: ["api", "scheduler", "build-runner", "webhook-receiver"],
      extraEnv: { LOG_LEVEL: "warn", ...benchNodeOptions() },
    });
    const call = api(kiln);
    const bc = (name: string) => ({
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name },
      spec: {
        source: { git: { uri: `file://${workDir}/no-such-repo.git`, ref: "main" } },
        strategy: { type: "Docker", dockerStrategy: {} },
        triggers: [{ type: "GitHub", github: { secret } }],
        failedBuildsHistoryLimit: 1000,
        // Parallel: the measurement is the webhook path, not the Serial queue between builds.
        runPolicy: "Parallel",
      },
    });
    const applied = await call("POST", "/apis/v1/apply", {
      items: [bc("latency"), bc("throughput")],
    });
    if (applied.status !== 200) throw new Error(`apply: ${applied.text}`);
    const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 2 });
    env.onCleanup(() => pool.end());

    // (a) latency, one delivery at a time (plus 3 warm-up deliveries, not counted)
    console.log(`(a) ${deliveries} signed pushes → Running, one at a time`);
    const latencies: number[] = [];
    const acks: number[] = [];
    for (let i = -3; i < deliveries; i += 1) {
      const commit = createHmac("sha1", "c").update(String(i)).digest("hex");
      const body = pushBody("refs/heads/main", commit);
      const delivery = randomUUID();
      const t0 = Date.now();
      const p0 = performance.now();
      const res = await fetch(`${kiln.webhookUrl}/hooks/default/latency/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": delivery,
          "x-hub-signature-256": sign(body),
        },
        body,
      });
      const ackMs = performance.now() - p0;
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`delivery answered ${res.status}`);
      let started: Date | null = null;
      const until = Date.now() + 30_000;
      while (!started && Date.now() < until) {
        const { rows } = await pool.query<{ started_at: Date | null }>(
          "select started_at from builds where request_id = $1",
          [`git-github-${delivery}`],
        );
        started = rows[0]?.started_at ?? null;
        if (!started) await sleep(2);
      }
      if (!started) throw new Error(`delivery ${delivery} never reached Running`);
      if (i >= 0) {
        latencies.push(started.getTime() - t0);
        acks.push(ackMs);
      }
      // Let the build finish failing so runner slots are free for the next one.
      await sleep(20);
    }

    // (b) throughput
    const bodies = Array.from({ length: 64 }, (_, i) =>
      pushBody("refs/heads/not-built", createHmac("sha1", "t").update(String(i)).digest("hex")),
    );
    const throughputUrl = `${kiln.webhookUrl}/hooks/default/throughput/github`;
    const useWrk = args.client === "wrk" || (args.client === "auto" && (await hasCommand("wrk")));
    console.log(
      `(b) signed deliveries to a non-matching branch, ${concurrency} connections, ${throughputSeconds} s, load from ${useWrk ? "wrk (its own process)" : "this process (node:http)"}`,
    );
    const load = useWrk
      ? await loadWithWrk({
          url: throughputUrl,
          bodies,
          sign,
          concurrency,
          seconds: throughputSeconds,
          workDir,
        })
      : await loadWithNodeHttp({
          url: throughputUrl,
          bodies,
          sign,
          concurrency,
          seconds: throughputSeconds,
          max: throughputMax,
        });
    const { sent, accepted, failed } = load;
    const elapsedS = load.seconds;
    const { rows } = await pool.query<{ n: string }>(
      "select count(*) as n from webhook_deliveries where build_config = 'throughput' and outcome = 'skipped'",
    );
    const stored = Number(rows[0]!.n);
    const { rows: builds } = await pool.query<{ n: string }>(
      "select count(*) as n from builds where build_config = 'throughput'",
    );
    const rate = accepted / elapsedS;

    const lat = summarize(latencies);
    const ack = summarize(acks);
    const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    const table = [
      "| metric | n | p50 | p90 | p99 | max |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      `| (a) signed push → build Running (startTimestamp), ms | ${lat.n} | ${f(lat.p50)} | ${f(lat.p90)} | ${f(lat.p99)} | ${f(lat.max)} |`,
      `| (a) signed push → 202 answer, ms | ${ack.n} | ${f(ack.p50)} | ${f(ack.p90)} | ${f(ack.p99)} | ${f(ack.max)} |`,
    ].join("\n");
    const tp = `| (b) sustained signed deliveries | ${accepted} acknowledged (202) of ${sent} sent in ${elapsedS.toFixed(1)} s = **${rate.toFixed(0)}/s**; ${stored} stored; ${failed} failed; ${builds[0]!.n} builds started |`;
    const facts = machineFacts();
    const verdictA =
      lat.p99 < TARGET_P99_MS
        ? `meets the target (p99 < ${TARGET_P99_MS} ms)`
        : `MISSES the target (p99 < ${TARGET_P99_MS} ms)`;
    // Deliveries still in flight when the load stops are stored but never counted as answered:
    // at most one a connection.
    const everyOneStored = stored >= accepted && stored <= accepted + concurrency;
    const verdictB =
      rate >= TARGET_RATE && everyOneStored
        ? `meets the target (≥ ${TARGET_RATE}/s, every one stored)`
        : `MISSES the target (≥ ${TARGET_RATE}/s, every one stored)`;
    console.log(
      `\n${table}\n\n| throughput | result |\n| --- | --- |\n${tp}\n\n(a) ${verdictA}; (b) ${verdictB}\n\nAs users run it: durable PostgreSQL with SCRAM logins as the non-superuser kiln role, NATS with every service on its own NKey and permissions, webhook secrets sealed at rest.`,
    );

    await mkdir(resultsDir, { recursive: true });
    const stamp = fileStamp(facts.date);
    const result = {
      facts,
      args: {
        deliveries,
        throughputMax,
        throughputSeconds,
        concurrency,
        client: useWrk ? "wrk" : "node",
      },
      latency: { startMs: lat, ackMs: ack, samples: latencies },
      throughput: {
        sent,
        accepted,
        failed,
        stored,
        builds: Number(builds[0]!.n),
        seconds: elapsedS,
        perSecond: rate,
      },
    };
    await writeFile(
      join(resultsDir, `webhooks-${stamp}.json`),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    await writeFile(
      join(resultsDir, "webhooks-latest.md"),
      `# Webhook benchmark, ${facts.date}\n\n${facts.cores} cores (${facts.cpuModel}), ${facts.memoryGiB} GiB, node ${facts.node}, load ${facts.loadAverage.map((x) => x.toFixed(2)).join(" ")}\n\n${table}\n\n| throughput | result |\n| --- | --- |\n${tp}\n\n(a) ${verdictA}; (b) ${verdictB}.\n\nAs users run it: durable PostgreSQL with SCRAM logins as the non-superuser kiln role, NATS with every service on its own NKey and permissions, webhook secrets sealed at rest.\n`,
    );
    return everyOneStored && failed === 0 ? 0 : 1;
  } finally {
    await env.cleanup();
  }
}

type Load = { sent: number; accepted: number; failed: number; seconds: number };
type LoadOptions = {
  url: string;
  bodies: string[];
  sign: (body: string) => string;
  concurrency: number;
  seconds: number;
};

function hasCommand(name: string): Promise<boolean> {
  return new Promise((resolve) =>
    execFile("sh", ["-c", `command -v ${name}`], (error) => resolve(!error)),
  );
}

/**
 * wrk runs in its own process and costs a fraction of what a Node client costs per request, so on a
 * 2-core machine most of the CPU is left to what is measured (receiver, postgres, nats). Each
 * request gets its own delivery id (thread number + counter), so none is a redelivery.
 */
async function loadWithWrk(o: LoadOptions & { workDir: string }): Promise<Load> {
  const lua = (text: string) => `[==[${text}]==]`;
  const script = `
local bodies = { ${o.bodies.map(lua).join(", ")} }
local signatures = { ${o.bodies.map((b) => lua(o.sign(b))).join(", ")} }
local threads = {}
local counter = 0
-- globals, not locals: done() reads them from each thread with thread:get
accepted = 0
failed = 0
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local k = (counter % #bodies) + 1
  return wrk.format("POST", nil, {
    ["content-type"] = "application/json",
    ["x-github-event"] = "push",
    ["x-github-delivery"] = string.format("wrk-%d-%d-%d", tid, os.time(), counter),
    ["x-hub-signature-256"] = signatures[k],
  }, bodies[k])
end
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else
    failed = failed + 1
    if first_failure == nil then first_failure = status .. " " .. string.sub(body, 1, 300) end
  end
end
function done(summary, latency, requests)
  local a, f = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    f = f + t:get("failed")
    local first = t:get("first_failure")
    if first ~= nil then io.write("KILN_FIRST_FAILURE " .. first .. "\\n") end
  end
  io.write(string.format("KILN_RESULT %d %d %d %d\\n", summary.requests, a, f, summary.duration))
end
`;
  const scriptPath = join(o.workDir, "deliveries.lua");
  await writeFile(scriptPath, script);
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>(
    (resolve, reject) =>
      execFile(
        "wrk",
        ["-t", "1", "-c", String(o.concurrency), "-d", `${o.seconds}s`, "-s", scriptPath, o.url],
        { maxBuffer: 1 << 20 },
        (error, out, err) =>
          error
            ? reject(new Error(`wrk failed: ${err || error.message}\n${out}`))
            : resolve({ stdout: out, stderr: err }),
      ),
  );
  const firstFailure = /KILN_FIRST_FAILURE (.*)/.exec(stdout);
  if (firstFailure) console.error(`first refused delivery: ${firstFailure[1]}`);
  const match = /KILN_RESULT (\d+) (\d+) (\d+) (\d+)/.exec(stdout);
  if (!match) throw new Error(`wrk printed no result:\n${stdout}\n${stderr}`);
  const [, requests, accepted, failed, micros] = match.map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { sent: requests, accepted, failed, seconds: micros / 1e6 };
}

/**
 * The load from this process when wrk is not installed, on node:http with one kept-alive socket
 * a connection. Global fetch (its WHATWG streams, Headers and Response objects) spent more CPU a
 * request than the receiver did, so on 2 cores it was what got measured: 2,854/s with fetch,
 * 7,506/s with this, about 11,000/s with wrk, same Kiln, same sitting.
 */
async function loadWithNodeHttp(o: LoadOptions & { max: number }): Promise<Load> {
  let sent = 0;
  let accepted = 0;
  let failed = 0;
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const bodies = o.bodies.map((b) => Buffer.from(b));
  const signatures = o.bodies.map(o.sign);
  const post = (k: number) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": bodies[k]!.length,
            "x-github-event": "push",
            "x-github-delivery": randomUUID(),
            "x-hub-signature-256": signatures[k]!,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(bodies[k]);
    });
  const stopAt = performance.now() + o.seconds * 1000;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (sent < o.max && performance.now() < stopAt) {
          const k = sent % bodies.length;
          sent += 1;
          if ((await post(k)) === 202) accepted += 1;
          else failed += 1;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { sent, accepted, failed, seconds: (performance.now() - t0) / 1000 };
}

process.exitCode = await main();
