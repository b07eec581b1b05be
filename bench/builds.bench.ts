/**
 * Build orchestration benchmark (not a timed test): how long Kiln takes from "start a build"
 * to "the runner hands the build to the engine", measured against the real services and the
 * real infrastructure, one build at a time.
 *
 *   npx tsx bench/builds.bench.ts [--builds 100] [--warmup 1] [--poll-ms 10] [--keep]
 *   npm run bench -- --builds 20
 *
 * See bench/README.md for what every metric means.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, hostname, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { busNatsUsers } from "@kiln/bus";
import { runMigrations } from "@kiln/db";
import {
  buildBusyboxImage,
  freePort,
  removeBuildahStore,
  startInfrastructure,
  type Infrastructure,
} from "@kiln/infra";
// Not `@kiln/testing`'s index: it also exports the vitest fixtures, and importing `vitest` outside
// the vitest runner throws ("Vitest failed to access its internal state"). git.js is a plain helper.
import { makeGitRepo, type GitRepo } from "@kiln/testing/plain";
// The same start-up as the integration tests (and `kiln up`): startKilnServices from @kiln/infra.
import { api, startKiln } from "../test/support/kiln-services.js";
import { createBenchBus } from "./support.js";

const exec = promisify(execFile);
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(repoRoot, "bench", "results");
const readmePath = join(repoRoot, "bench", "README.md");

const TARGET_P99_MS = 100;
const BUILD_TIMEOUT_MS = 180_000;
const NS = "default";
const BC = "bench";
const terminalPhases = new Set(["Complete", "Failed", "Error", "Cancelled"]);

// ---------------------------------------------------------------------------------------------
// arguments

const { values: args } = parseArgs({
  options: {
    builds: { type: "string", default: "100" },
    warmup: { type: "string", default: "1" },
    "poll-ms": { type: "string", default: "10" },
    keep: { type: "boolean", default: false },
    "no-readme": { type: "boolean", default: false },
    /** PostgreSQL without fsync: faster and unsafe, reported beside the durable figure, never instead. */
    "fast-postgres": { type: "boolean", default: false },
  },
});
const buildCount = positiveInt(args.builds!, "--builds");
const warmupCount = nonNegativeInt(args.warmup!, "--warmup");
const pollMs = positiveInt(args["poll-ms"]!, "--poll-ms");

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${flag} must be a positive integer, got ${s}`);
  return n;
}
function nonNegativeInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${flag} must be a non-negative integer, got ${s}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// cleanup: everything started registers its stop here; run in reverse on exit and on Ctrl-C

const cleanups: { what: string; fn: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;
function onCleanup(what: string, fn: () => Promise<unknown>): void {
  cleanups.push({ what, fn });
}
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { what, fn } of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        console.error(`cleanup: ${what} failed: ${String(error)}`);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return; // a second Ctrl-C while cleaning up: keep cleaning
    interrupted = true;
    console.error(`\n${signal}: stopping everything the benchmark started…`);
    void cleanup().finally(() => process.exit(130));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type LogLine = { time?: string; msg?: string; [k: string]: unknown };
async function readLog(file: string): Promise<LogLine[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return [];
  }
  const lines: LogLine[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(raw) as LogLine);
    } catch {
      // a partial last line
    }
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// one build

type Sample = {
  name: string;
  warmup: boolean;
  /** Wall clock just before POST …/instantiate (ISO). */
  requestedAt: string;
  phase: string;
  reason?: string;
  message?: string;
  instantiateStatus: number;
  /** Every value below is ms after the request (t0); null when the build never got there. */
  instantiateMs: number;
  createdMs: number | null;
  overheadMs: number | null;
  completeSeenMs: number | null;
  completionTimestampMs: number | null;
  engineMs: number | null;
  /** First time the poll saw each phase. */
  phasesSeenMs: Record<string, number>;
  polls: number;
};

async function runOneBuild(call: ReturnType<typeof api>, warmup: boolean): Promise<Sample> {
  const t0Wall = Date.now();
  const t0 = performance.now();
  const started = await call(
    "POST",
    `/apis/v1/namespaces/${NS}/buildconfigs/${BC}/instantiate`,
    {},
  );
  const instantiateMs = performance.now() - t0;
  const base = {
    warmup,
    requestedAt: new Date(t0Wall).toISOString(),
    instantiateStatus: started.status,
    instantiateMs,
  };
  if (started.status !== 201) {
    return {
      ...base,
      name: "?",
      phase: "NotCreated",
      message: `instantiate answered ${started.status}: ${started.text.slice(0, 300)}`,
      createdMs: null,
      overheadMs: null,
      completeSeenMs: null,
      completionTimestampMs: null,
      engineMs: null,
      phasesSeenMs: {},
      polls: 0,
    };
  }
  const name = started.json.metadata.name as string;
  const phasesSeenMs: Record<string, number> = {};
  let polls = 0;
  let build: any = started.json;
  let seenAt = instantiateMs;
  for (;;) {
    const phase = build?.status?.phase as string | undefined;
    if (phase && !(phase in phasesSeenMs)) phasesSeenMs[phase] = seenAt;
    if (phase && terminalPhases.has(phase)) break;
    if (seenAt > BUILD_TIMEOUT_MS) {
      build = {
        ...build,
        status: {
          ...build?.status,
          phase: "Timeout",
          message: `still ${phase} after ${BUILD_TIMEOUT_MS} ms`,
        },
      };
      break;
    }
    if (interrupted) throw new Error("interrupted");
    await sleep(pollMs);
    const res = await call("GET", `/apis/v1/namespaces/${NS}/builds/${name}`);
    seenAt = performance.now() - t0;
    polls += 1;
    if (res.status === 200) build = res.json;
  }
  const status = build.status ?? {};
  const ms = (iso: string | undefined) => (iso ? Date.parse(iso) - t0Wall : null);
  const startMs = ms(status.startTimestamp);
  const endMs = ms(status.completionTimestamp);
  return {
    ...base,
    name,
    phase: status.phase,
    ...(status.reason ? { reason: status.reason } : {}),
    ...(status.message ? { message: status.message } : {}),
    createdMs: ms(build.metadata?.creationTimestamp),
    overheadMs: startMs,
    completeSeenMs: status.phase === "Complete" ? (phasesSeenMs.Complete ?? null) : null,
    completionTimestampMs: endMs,
    engineMs: startMs !== null && endMs !== null ? endMs - startMs : null,
    phasesSeenMs,
    polls,
  };
}

// ---------------------------------------------------------------------------------------------
// where the time goes: the services' own log lines, joined per build

type Breakdown = Record<string, number | null>;

/**
 * Stage boundaries (all ms after t0), from the services' logs (pino, ms resolution, same clock):
 * - apiReceived: fastify "incoming request" for the instantiate POST
 * - schedulerReceived: scheduler consumer "message handled" for build.requested, minus its durationMs
 * - created: build row creationTimestamp (postgres now() = the scheduler's transaction start)
 * - schedulerDone: scheduler "build dispatched" (dispatch published and Pending stored)
 * - runnerReceived: runner consumer "message handled" for build.dispatched, minus its durationMs
 * - startTimestamp: the `at` of the Running event (runner clock, before publishing it)
 * - runnerStarted: runner "build started" (after the Running publish was acked)
 * - apiAnswered: fastify "request completed" for the instantiate POST
 */
async function breakdowns(
  logsDir: string,
  prefix: string,
  samples: Sample[],
  builds: Map<string, any>,
): Promise<Map<string, Breakdown>> {
  const [apiLog, schedLog, runnerLog] = await Promise.all(
    ["api", "scheduler", "build-runner"].map((n) => readLog(join(logsDir, `${n}.log`))),
  );
  const t = (l: LogLine | undefined) => (l?.time ? Date.parse(l.time) : null);

  // api: pair each instantiate POST's incoming/completed lines by reqId, in order
  const incoming = new Map<string, LogLine>();
  const instantiateReqs: { in: LogLine; out: LogLine | undefined; reqId: string }[] = [];
  for (const l of apiLog!) {
    const req = l.req as { url?: string; method?: string } | undefined;
    if (
      l.msg === "incoming request" &&
      req?.method === "POST" &&
      req.url?.endsWith("/instantiate")
    ) {
      const reqId = String(l.reqId);
      incoming.set(reqId, l);
      instantiateReqs.push({ in: l, out: undefined, reqId });
    } else if (l.msg === "request completed" && incoming.has(String(l.reqId))) {
      const r = instantiateReqs.find((x) => x.reqId === String(l.reqId));
      if (r) r.out = l;
    }
  }

  const byName = new Map<string, LogLine[]>();
  for (const l of [...schedLog!, ...runnerLog!]) {
    const key = typeof l.build === "string" ? l.build : undefined;
    if (key) byName.set(key, [...(byName.get(key) ?? []), l]);
  }
  const handled = new Map<string, LogLine>(); // subject → consumer "message handled" line
  for (const l of [...schedLog!, ...runnerLog!]) {
    if (l.msg === "message handled" && typeof l.op === "string" && l.outcome === "ack")
      handled.set(l.op, l);
  }
  const receivedAt = (l: LogLine | undefined) =>
    l?.time && typeof l.durationMs === "number" ? Date.parse(l.time) - l.durationMs : null;

  const out = new Map<string, Breakdown>();
  samples.forEach((s, i) => {
    const t0 = Date.parse(s.requestedAt);
    const rel = (v: number | null) => (v === null ? null : v - t0);
    const build = builds.get(s.name);
    const lines = byName.get(s.name) ?? [];
    const created = lines.find((l) => l.msg === "build created");
    const dispatched = lines.find((l) => l.msg === "build dispatched");
    const runnerStarted = lines.find((l) => l.msg === "build started");
    const requestId = created?.requestId as string | undefined;
    const buildId = build?.metadata?.uid as string | undefined;
    const api = instantiateReqs[i];
    out.set(s.name, {
      apiReceived: rel(t(api?.in)),
      schedulerReceived: rel(
        requestId ? receivedAt(handled.get(`${prefix}.build.requested.${requestId}`)) : null,
      ),
      created: s.createdMs,
      schedulerDone: rel(t(dispatched)),
      runnerReceived: rel(
        buildId ? receivedAt(handled.get(`${prefix}.build.dispatched.${buildId}`)) : null,
      ),
      startTimestamp: s.overheadMs,
      runnerStarted: rel(t(runnerStarted)),
      apiAnswered: rel(t(api?.out)),
    });
  });
  return out;
}

/** Consecutive stages whose durations are summarised. */
const stages: [string, string, string][] = [
  ["t0 → api received", "t0", "apiReceived"],
  ["api received → scheduler received request", "apiReceived", "schedulerReceived"],
  ["scheduler received → build row created", "schedulerReceived", "created"],
  ["build row created → runner received dispatch", "created", "runnerReceived"],
  ["runner received dispatch → startTimestamp", "runnerReceived", "startTimestamp"],
  ["(build row created → scheduler done: dispatch + Pending)", "created", "schedulerDone"],
  ["(startTimestamp → runner logged 'build started')", "startTimestamp", "runnerStarted"],
  ["(build row created → api answered 201)", "created", "apiAnswered"],
];

// ---------------------------------------------------------------------------------------------
// statistics and output

type Summary = { n: number; p50: number; p90: number; p99: number; max: number; mean: number };

/** Nearest-rank percentiles: p99 of 100 samples is the 99th smallest. */
function summarize(values: (number | null)[]): Summary | null {
  const xs = values
    .filter((v): v is number => v !== null && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const pct = (p: number) =>
    xs[Math.min(xs.length, Math.max(1, Math.ceil((p / 100) * xs.length))) - 1]!;
  return {
    n: xs.length,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: xs[xs.length - 1]!,
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

function table(rows: [string, Summary | null][]): string {
  const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = [
    "| metric | n | p50 | p90 | p99 | max |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [name, s] of rows) {
    lines.push(
      s
        ? `| ${name} | ${s.n} | ${f(s.p50)} | ${f(s.p90)} | ${f(s.p99)} | ${f(s.max)} |`
        : `| ${name} | 0 | – | – | – | – |`,
    );
  }
  return lines.join("\n");
}

async function machineFacts() {
  const buildah = await exec("buildah", ["--version"]).then(
    (r) => r.stdout.trim(),
    () => "buildah not found",
  );
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    host: hostname(),
    cores: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    /** 1/5/15-minute load averages: other work on the machine shows up in the tail latencies. */
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    buildah,
  };
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<number> {
  const facts0 = await machineFacts();
  console.log(
    `Kiln build orchestration benchmark: ${buildCount} builds (+${warmupCount} warm-up), one at a time, polling every ${pollMs} ms`,
  );

  const workDir = await mkdtemp(join(tmpdir(), "kiln-bench-"));
  // mkdtemp makes 0700; as root, postgres runs as the postgres user and must pass through.
  await chmod(workDir, 0o711);
  onCleanup("temp dir", async () => {
    if (args.keep) console.log(`kept ${workDir} (--keep)`);
    else await rm(workDir, { recursive: true, force: true });
  });

  const setupStart = performance.now();
  const step = (what: string) =>
    console.log(`  [${((performance.now() - setupStart) / 1000).toFixed(1)} s] ${what}`);
  const fastPostgres = args["fast-postgres"] === true;
  step(`starting nats, postgres (${fastPostgres ? "fast, unsafe" : "durable"}), registry`);
  const bus = await createBenchBus();
  const servers: Infrastructure = await startInfrastructure({
    natsUsers: busNatsUsers(bus.busCredentials, "kiln"),
    stateDir: join(workDir, "state"),
    ports: { nats: await freePort(), postgres: await freePort(), registry: await freePort() },
    fast: fastPostgres,
  });
  onCleanup("infrastructure", () => servers.stop());
  step("migrating the kiln database");
  await runMigrations(servers.databaseUrl);

  step("building and pushing the busybox base image");
  const storageDir = join(workDir, "buildah");
  onCleanup("buildah store", () => removeBuildahStore(storageDir));
  const baseImage = await buildBusyboxImage({
    storageDir,
    ref: `${servers.registry.address}/base/busybox:latest`,
    authFile: servers.registry.authFile ?? undefined,
  });

  step("starting api, scheduler, build-runner");
  const prefix = "kiln";
  // startKiln waits until every service answers /healthz, which each does only once consuming.
  const kiln = await startKiln({
    infra: { natsUrl: servers.natsUrl, registry: servers.registry, workDir, ...bus },
    databaseUrl: servers.databaseUrl,
    subjectPrefix: prefix,
    // The runner's own store (the build user's), not root's where the base image was built.
    buildahStorageDir: join(workDir, "runner-storage"),
  });
  onCleanup("kiln services", () => kiln.stop());
  const call = api(kiln);

  step("creating the git repository and the BuildConfig");
  const repo: GitRepo = await makeGitRepo(
    { Dockerfile: `FROM ${baseImage.ref}\nCMD ["echo","hi"]\n` },
    { parentDir: workDir },
  );
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: BC },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: { type: "Docker", dockerStrategy: {} },
          output: { to: { kind: "ImageStreamTag", name: `${BC}:latest` } },
        },
      },
    ],
  });
  if (applied.status !== 200) throw new Error(`apply answered ${applied.status}: ${applied.text}`);
  step("ready");

  const samples: Sample[] = [];
  const total = warmupCount + buildCount;
  const runStart = performance.now();
  for (let i = 0; i < total; i++) {
    const warmup = i < warmupCount;
    const s = await runOneBuild(call, warmup);
    samples.push(s);
    const tag = warmup ? "warm-up" : `${i - warmupCount + 1}/${buildCount}`;
    const fmt = (v: number | null) => (v === null ? "–" : `${v.toFixed(0)} ms`);
    if (s.phase !== "Complete" || warmup || (i - warmupCount + 1) % 10 === 0) {
      console.log(
        `  ${tag.padEnd(8)} ${s.name.padEnd(12)} ${s.phase.padEnd(9)} instantiate ${fmt(s.instantiateMs)}, overhead ${fmt(s.overheadMs)}, complete ${fmt(s.completeSeenMs)}` +
          (s.phase === "Complete" ? "" : `  ${s.reason ?? ""} ${s.message ?? ""}`),
      );
    }
  }
  const runSeconds = (performance.now() - runStart) / 1000;

  // Final state of every build, for the log join (uid = build id on the bus).
  const builds = new Map<string, any>();
  for (const s of samples) {
    if (s.name === "?") continue;
    const res = await call("GET", `/apis/v1/namespaces/${NS}/builds/${s.name}`);
    if (res.status === 200) builds.set(s.name, res.json);
  }
  const stageTimes = await breakdowns(kiln.logsDir, prefix, samples, builds);

  const measured = samples.filter((s) => !s.warmup);
  const failures = measured.filter((s) => s.phase !== "Complete");
  const metrics: [string, Summary | null][] = [
    ["instantiate HTTP answer (201)", summarize(measured.map((s) => s.instantiateMs))],
    ["orchestration overhead (startTimestamp − t0)", summarize(measured.map((s) => s.overheadMs))],
    ["request → Complete seen by poll", summarize(measured.map((s) => s.completeSeenMs))],
    ["request → completionTimestamp", summarize(measured.map((s) => s.completionTimestampMs))],
    ["engine (completionTimestamp − startTimestamp)", summarize(measured.map((s) => s.engineMs))],
  ];
  const stageRows: [string, Summary | null][] = stages.map(([label, from, to]) => [
    label,
    summarize(
      measured.map((s) => {
        const b = stageTimes.get(s.name);
        if (!b) return null;
        const a = from === "t0" ? 0 : b[from];
        const z = b[to];
        return a === null || a === undefined || z === null || z === undefined ? null : z - a;
      }),
    ),
  ]);
  const overhead = metrics[1]![1];
  const pass =
    overhead !== null &&
    failures.length === 0 &&
    overhead.n === buildCount &&
    overhead.p99 < TARGET_P99_MS;
  const facts = {
    ...facts0,
    date: new Date().toISOString(),
    loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
  };

  const targetLine = `orchestration overhead p99 < ${TARGET_P99_MS} ms: ${pass ? "PASS" : "FAIL"}${overhead ? ` (p99 ${overhead.p99.toFixed(0)} ms)` : ""}`;
  const factsLine =
    `${facts.cores} cores (${facts.cpuModel}), ${facts.memoryGiB} GiB, Linux ${facts.kernel}, node ${facts.node}, ${facts.buildah}, ${facts.date}; ` +
    `load average ${facts.loadAverage.join("/")} at start, ${facts.loadAverageAtEnd.join("/")} at end`;
  const method =
    `${buildCount} builds run one at a time (each starts after the previous one ended), so runner queueing is not in the numbers; ` +
    `${warmupCount} warm-up build(s) not counted. Poll interval ${pollMs} ms. ms, nearest-rank percentiles. ` +
    `Trivial Dockerfile (FROM busybox + CMD), Docker strategy, ImageStreamTag output, local buildah engine (rootless, overlay). PostgreSQL ${fastPostgres ? "without fsync (--fast-postgres: unsafe, for comparison)" : "durable"}; authentication on: NATS NKeys with per-service permissions, SCRAM logins, the registry's account, sealed secrets.`;
  const failureLines = failures.map((s) =>
    `- ${s.name}: ${s.phase} ${s.reason ?? ""} ${s.message ?? ""}`.trimEnd(),
  );

  const md = [
    "### Results",
    "",
    table(metrics),
    "",
    `**${targetLine}**`,
    "",
    `Builds: ${measured.length}, Complete: ${measured.length - failures.length}, failed: ${failures.length}.`,
    ...(failureLines.length ? ["", ...failureLines] : []),
    "",
    "Where the orchestration time goes (stage durations from the services' logs, ms):",
    "",
    table(stageRows),
    "",
    `Method: ${method}`,
    "",
    `Machine: ${factsLine}. Wall time of the measured loop: ${runSeconds.toFixed(1)} s.`,
  ].join("\n");

  console.log("");
  console.log(
    `Builds ran ONE AT A TIME (no runner queueing in these numbers); ${warmupCount} warm-up build(s) excluded.`,
  );
  console.log(table(metrics));
  console.log("");
  console.log(targetLine);
  console.log(
    `builds: ${measured.length}, Complete: ${measured.length - failures.length}, failures: ${failures.length}`,
  );
  for (const l of failureLines) console.log(l);
  console.log("");
  console.log("where the time goes (from the services' logs):");
  console.log(table(stageRows));
  console.log("");
  console.log(`machine: ${factsLine}`);

  await mkdir(resultsDir, { recursive: true });
  const stamp = facts.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  const jsonFile = join(resultsDir, `builds-${stamp}.json`);
  await writeFile(
    jsonFile,
    JSON.stringify(
      {
        benchmark: "builds",
        target: { metric: "orchestration overhead p99", lessThanMs: TARGET_P99_MS, pass },
        method,
        options: { builds: buildCount, warmup: warmupCount, pollMs },
        machine: facts,
        wallSeconds: runSeconds,
        summary: Object.fromEntries(metrics.map(([k, v]) => [k, v])),
        stages: Object.fromEntries(stageRows.map(([k, v]) => [k, v])),
        failures: failures.length,
        samples: samples.map((s) => ({ ...s, stages: stageTimes.get(s.name) ?? null })),
      },
      null,
      2,
    ) + "\n",
  );
  await writeFile(join(resultsDir, "builds-latest.md"), `${md}\n`);
  if (!args["no-readme"]) await updateReadme(md);
  console.log(
    `\nwrote ${jsonFile}, bench/results/builds-latest.md${args["no-readme"] ? "" : ", bench/README.md"}`,
  );
  return failures.length === 0 ? 0 : 1;
}

/** Replaces the README's results section (between the markers) with the latest table. */
async function updateReadme(md: string): Promise<void> {
  const start = "<!-- results:start -->";
  const end = "<!-- results:end -->";
  let text: string;
  try {
    text = await readFile(readmePath, "utf8");
  } catch {
    return;
  }
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  await writeFile(readmePath, `${text.slice(0, a + start.length)}\n${md}\n${text.slice(b)}`);
}

let code = 1;
try {
  code = await main();
} catch (error) {
  if (!interrupted) console.error(error);
} finally {
  if (!interrupted) {
    await cleanup();
    process.exit(code);
  }
}
