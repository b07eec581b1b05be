/**
 * Fault benchmark (not a timed test): `kiln up` as users run it (its own process, durable
 * PostgreSQL, authentication everywhere, supervision on), under a steady load of build requests
 * and signed GitHub pushes, while its processes are killed one at a time: kill -9 of each
 * service, of NATS and of PostgreSQL, then SIGTERM of the build-runner. Afterwards it counts
 * what a user would notice: requests with no build (lost), two builds for one request (doubled),
 * builds that never end (stuck), two builds of a Serial BuildConfig at once (overlaps), how long
 * each fault took to recover from, and what is left on the machine once `kiln up` is stopped.
 *
 *   npx tsx bench/faults.bench.ts [--interval-ms 1500] [--gap-seconds 30] [--warmup-seconds 20]
 *     [--settle-seconds 120] [--faults api,nats,…] [--build-sleep 1] [--keep] [--no-readme]
 *
 * See bench/README.md ("Faults") for what each figure means.
 */
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { readSupervisorStatus, supervisorStatusFile, type SupervisorStatus } from "@kiln/infra";
import { runChecked } from "@kiln/runtime";
import { makeGitRepo } from "@kiln/testing/plain";
import { repoRoot } from "../test/support/kiln-services.js";
import { startKilnUp, stopKilnUp, type KilnUp } from "../test/support/kiln-up.js";
import { fileStamp, machineFacts, runBench, writeBenchResults } from "./support.js";

const RECOVERY_TARGET_S = 10;
const NS = "default";
const secret = "faults-bench-webhook-secret";
const serviceNames = [
  "api",
  "webhook-receiver",
  "scheduler",
  "build-runner",
  "image-watcher",
  "deployer",
] as const;
type ServiceName = (typeof serviceNames)[number];

/** Every fault, in the order they are done: which supervised process gets which signal. */
const faultCatalog = {
  api: { process: "api", signal: "SIGKILL" },
  "webhook-receiver": { process: "webhook-receiver", signal: "SIGKILL" },
  scheduler: { process: "scheduler", signal: "SIGKILL" },
  "build-runner": { process: "build-runner", signal: "SIGKILL" },
  "image-watcher": { process: "image-watcher", signal: "SIGKILL" },
  deployer: { process: "deployer", signal: "SIGKILL" },
  nats: { process: "nats", signal: "SIGKILL" },
  postgres: { process: "postgres", signal: "SIGKILL" },
  "build-runner-sigterm": { process: "build-runner", signal: "SIGTERM" },
} as const satisfies Record<string, { process: string; signal: NodeJS.Signals }>;
type FaultName = keyof typeof faultCatalog;
const isFaultName = (s: string): s is FaultName => s in faultCatalog;

const { values: args } = parseArgs({
  options: {
    /** One request every this long, round robin over the mix below. */
    "interval-ms": { type: "string", default: "1500" },
    /** Load between two faults (and after the last one). */
    "gap-seconds": { type: "string", default: "30" },
    /** Load before the first fault. */
    "warmup-seconds": { type: "string", default: "20" },
    /** A build not terminal this long after the load stopped is stuck. */
    "settle-seconds": { type: "string", default: "120" },
    faults: { type: "string", default: Object.keys(faultCatalog).join(",") },
    /** Seconds each build's RUN step sleeps, so faults find builds in flight. */
    "build-sleep": { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
    "no-readme": { type: "boolean", default: false },
  },
});
const intervalMs = positive(args["interval-ms"], "--interval-ms");
const gapMs = positive(args["gap-seconds"], "--gap-seconds") * 1000;
const warmupMs = positive(args["warmup-seconds"], "--warmup-seconds") * 1000;
const settleMs = positive(args["settle-seconds"], "--settle-seconds") * 1000;
const buildSleep = Number(args["build-sleep"]);
const faults = args.faults.split(",").map((f) => {
  const name = f.trim();
  if (!isFaultName(name))
    throw new Error(`--faults: unknown fault ${name} (${Object.keys(faultCatalog).join(", ")})`);
  return name;
});

function positive(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${s}`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(1);

// ---------------------------------------------------------------------------------------------
// the load

/** What the load sends, round robin: the Parallel and Serial BuildConfigs, pushes, the chain's head. */
const mix = ["par", "ser", "hook", "par", "ser", "hook", "chain-up"] as const;
type Target = (typeof mix)[number];

/** One request as the client saw it. Times in ms since the epoch. */
type SentRequest = {
  kind: "api" | "webhook";
  buildConfig: Target;
  /** The api's requestId; for a push, the X-GitHub-Delivery id. */
  id: string;
  /** The build's request id in Kiln (`git-github-<delivery>` for a push). */
  requestId: string;
  /** A push's commit (a new one per push). */
  commit?: string;
  firstSentAt: number;
  acceptedAt: number | null;
  attempts: number;
  /** Answers by status (or the client's error code), every attempt counted. */
  answers: Record<string, number>;
  /** The first body of each status other than 2xx. */
  bodies: Record<string, string>;
  /** A 4xx other than 408/429: the request itself was refused (never expected here). */
  refused?: string;
  /** Still not accepted after the retry deadline. */
  gaveUp?: boolean;
  /** A second delivery of an accepted push with the same delivery id (GitHub's "Redeliver"). */
  redelivery?: {
    sentAt: number;
    answers: Record<string, number>;
    bodies: Record<string, string>;
    acceptedStatus: number | null;
  };
};

/** A client keeps trying a request this long (as a CI script or GitHub's redelivery would). */
const retryDeadlineMs = 120_000;

type Answer = { status: number; json: unknown } | { error: string };

async function send(url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text.slice(0, 300);
    }
    return { status: res.status, json };
  } catch (error) {
    const e = error as { cause?: { code?: string }; name?: string };
    return { error: e.cause?.code ?? e.name ?? "error" };
  }
}

const answerKey = (a: Answer) => ("status" in a ? String(a.status) : a.error);
const retryable = (a: Answer) =>
  !("status" in a) || a.status >= 500 || a.status === 408 || a.status === 429;

/** Sends `attempt` until it is accepted (2xx), refused (a 4xx), or the deadline passes. */
async function untilAccepted(
  seen: { answers: Record<string, number>; bodies: Record<string, string> },
  attempt: () => Promise<Answer>,
  deadline: number,
): Promise<{ accepted: Answer & { status: number }; attempts: number } | { failed: Answer }> {
  for (let attempts = 1; ; attempts++) {
    const answer = await attempt();
    const key = answerKey(answer);
    seen.answers[key] = (seen.answers[key] ?? 0) + 1;
    if ("status" in answer && answer.status >= 200 && answer.status < 300)
      return { accepted: answer, attempts };
    if ("status" in answer)
      seen.bodies[key] ??= (
        typeof answer.json === "string" ? answer.json : JSON.stringify(answer.json)
      ).slice(0, 300);
    if (!retryable(answer) || Date.now() > deadline) return { failed: answer };
    await sleep(500);
  }
}

type Kiln = {
  apiUrl: string;
  webhookUrl: string;
  token: string;
  hookRepo: string;
};

class Load {
  readonly requests: SentRequest[] = [];
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private counter = 0;
  /** Commits are made one at a time (git's index lock); each push names the one before. */
  private commits: Promise<unknown> = Promise.resolve();
  private head: string;

  constructor(
    private readonly kiln: Kiln,
    initialCommit: string,
  ) {
    this.head = initialCommit;
  }

  start(): void {
    this.loop = (async () => {
      for (let i = 0; !this.stopped; i++) {
        const target = mix[i % mix.length]!;
        const sent = (target === "hook" ? this.push() : this.instantiate(target)).catch(
          (error: unknown) => console.error(`load: ${String(error)}`),
        );
        this.inflight.add(sent);
        void sent.finally(() => this.inflight.delete(sent));
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async instantiate(buildConfig: Exclude<Target, "hook">): Promise<void> {
    const id = `faults-${buildConfig}-${++this.counter}`;
    const r: SentRequest = {
      kind: "api",
      buildConfig,
      id,
      requestId: id,
      firstSentAt: Date.now(),
      acceptedAt: null,
      attempts: 0,
      answers: {},
      bodies: {},
    };
    this.requests.push(r);
    const body = JSON.stringify({ requestId: id, env: [{ name: "FAULTS_REQUEST", value: id }] });
    const result = await untilAccepted(
      r,
      () => {
        r.attempts++;
        return send(
          `${this.kiln.apiUrl}/apis/v1/namespaces/${NS}/buildconfigs/${buildConfig}/instantiate`,
          {
            method: "POST",
            headers: {
              authorization: `Bearer ${this.kiln.token}`,
              "content-type": "application/json",
            },
            body,
          },
          30_000,
        );
      },
      r.firstSentAt + retryDeadlineMs,
    );
    settle(r, result);
  }

  private async push(): Promise<void> {
    const made = this.commits.then(() => this.commit());
    this.commits = made.catch(() => undefined);
    const { before, commit } = await made;
    const delivery = randomUUID();
    const r: SentRequest = {
      kind: "webhook",
      buildConfig: "hook",
      id: delivery,
      requestId: `git-github-${delivery}`,
      commit,
      firstSentAt: Date.now(),
      acceptedAt: null,
      attempts: 0,
      answers: {},
      bodies: {},
    };
    this.requests.push(r);
    const body = JSON.stringify({
      ref: "refs/heads/main",
      before,
      after: commit,
      head_commit: { id: commit, message: "faults bench" },
      repository: { default_branch: "main" },
    });
    const deliver = () =>
      send(
        `${this.kiln.webhookUrl}/hooks/${NS}/hook/github`,
        {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "push",
            "x-github-delivery": delivery,
            "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
          },
          body,
        },
        30_000,
      );
    const result = await untilAccepted(
      r,
      () => {
        r.attempts++;
        return deliver();
      },
      r.firstSentAt + retryDeadlineMs,
    );
    settle(r, result);
    // Every fourth accepted push is delivered again, as GitHub's "Redeliver" does: same id, same
    // body. It must find the first one's build, not make another.
    if (r.acceptedAt === null || this.counter++ % 4 !== 0) return;
    await sleep(2000);
    const redelivery: NonNullable<SentRequest["redelivery"]> = {
      sentAt: Date.now(),
      answers: {},
      bodies: {},
      acceptedStatus: null,
    };
    r.redelivery = redelivery;
    const again = await untilAccepted(redelivery, deliver, redelivery.sentAt + retryDeadlineMs);
    if ("accepted" in again) redelivery.acceptedStatus = again.accepted.status;
  }

  private async commit(): Promise<{ before: string; commit: string }> {
    const git = (...a: string[]) =>
      runChecked("git", a, {
        cwd: this.kiln.hookRepo,
        env: {
          GIT_AUTHOR_NAME: "Kiln Bench",
          GIT_AUTHOR_EMAIL: "bench@kiln.invalid",
          GIT_COMMITTER_NAME: "Kiln Bench",
          GIT_COMMITTER_EMAIL: "bench@kiln.invalid",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_CONFIG_NOSYSTEM: "1",
        },
      });
    await git("commit", "--quiet", "--allow-empty", "--message", `push ${randomUUID()}`);
    const commit = (await git("rev-parse", "HEAD")).stdout.trim();
    const before = this.head;
    this.head = commit;
    return { before, commit };
  }
}

function settle(r: SentRequest, result: Awaited<ReturnType<typeof untilAccepted>>): void {
  if ("accepted" in result) {
    r.acceptedAt = Date.now();
    return;
  }
  const failed = result.failed;
  if (retryable(failed)) r.gaveUp = true;
  else r.refused = `${answerKey(failed)} ${JSON.stringify("json" in failed ? failed.json : "")}`;
}

// ---------------------------------------------------------------------------------------------
// processes

type SeenProcess = {
  pid: number;
  ppid: number;
  /** Clock ticks after boot (stat's field 22): a pid reused later is another process. */
  startTime: string;
  comm: string;
  what: string;
  cmdline: string;
  /** Its environment or command line names the state dir, or it is a build step of this run. */
  ours: boolean;
};

/**
 * Every live process on the machine, read in one pass over /proc so that parents and children
 * agree. A process is "ours" when its environment names the state dir (the services and what
 * they run: buildah, runc, slirp4netns inherit it), its command line does (NATS, PostgreSQL,
 * the registry, `kiln up`, buildah's flags), or its command carries the run's marker (a RUN step).
 */
function processSnapshot(stateDir: string, marker: string): Map<number, SeenProcess> {
  const found = new Map<number, SeenProcess>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const base = `/proc/${entry}`;
      const stat = readFileSync(`${base}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // exited, waiting for its parent to collect it
      const cmdline = readFileSync(`${base}/cmdline`, "latin1").replaceAll("\0", " ").trim();
      let environ = "";
      try {
        environ = readFileSync(`${base}/environ`, "latin1");
      } catch {
        // not readable: judged by its command line
      }
      const ours =
        environ.includes(stateDir) || cmdline.includes(stateDir) || cmdline.includes(marker);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const service = /services\/([a-z-]+)\/src\/main\.ts/.exec(cmdline)?.[1];
      const what = cmdline.includes(marker) ? "build step" : service ? `node (${service})` : comm;
      found.set(Number(entry), {
        pid: Number(entry),
        ppid: Number(fields[1]),
        startTime: fields[19] ?? "",
        comm,
        what,
        cmdline: cmdline.slice(0, 300),
        ours,
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** `root` and everything below it in `snapshot`. */
function treeOf(snapshot: Map<number, SeenProcess>, root: number): SeenProcess[] {
  const children = new Map<number, SeenProcess[]>();
  for (const p of snapshot.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found: SeenProcess[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      walk(child.pid);
    }
  };
  const self = snapshot.get(root);
  if (self) found.push(self);
  walk(root);
  return found;
}

/** Those of `before` that still run (the same pid and start time). */
function stillRunning(before: SeenProcess[], now: Map<number, SeenProcess>): SeenProcess[] {
  return before.filter((p) => now.get(p.pid)?.startTime === p.startTime);
}

/** Containers in buildah stores under `dir` (each store's `overlay-containers/containers.json`). */
function storeContainers(dir: string, depth = 4): number {
  if (depth < 0 || !existsSync(dir)) return 0;
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === "containers.json" && dir.endsWith("-containers")) {
      try {
        n += (JSON.parse(readFileSync(path, "utf8")) as unknown[]).length;
      } catch {
        // half-written: not a container
      }
    } else if (entry.isDirectory() && !entry.isSymbolicLink()) {
      n += storeContainers(path, depth - 1);
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// faults

type FaultRecord = {
  name: FaultName;
  process: string;
  signal: string;
  /** ms since the epoch. */
  at: number;
  pid: number;
  newPid: number | null;
  /** ms after `at`: `kiln status` shows it running under a new pid. */
  restartedMs: number | null;
  /** ms after `at`: every service's /readyz answers 200 (and the new pid runs). */
  readyMs: number | null;
  /** Services seen not ready meanwhile, with the first answer each gave. */
  notReady: Record<string, string>;
  /**
   * The process's tree just before the signal (for the build-runner also the build helpers
   * that daemonize, slirp4netns and its hook), and those of them still running 1 s after it
   * and once recovered.
   */
  tree: SeenProcess[];
  aliveAfter1s: SeenProcess[];
  aliveOnceRecovered: SeenProcess[];
  /**
   * Filled in afterwards, ms after `at`: the first build of a request first sent after `at` to
   * start (Running), and the first to complete.
   */
  firstStart: { request: string; build: string; ms: number } | null;
  firstComplete: { request: string; build: string; ms: number } | null;
};

async function readyz(urls: Record<ServiceName, string>): Promise<Record<string, string>> {
  const answers = await Promise.all(
    serviceNames.map(async (name) => {
      const a = await send(`${urls[name]}/readyz`, {}, 2000);
      return [name, answerKey(a)] as const;
    }),
  );
  return Object.fromEntries(answers.filter(([, a]) => a !== "200"));
}

async function inflict(
  name: FaultName,
  o: {
    statusFile: string;
    readyUrls: Record<ServiceName, string>;
    snapshot: () => Map<number, SeenProcess>;
  },
): Promise<FaultRecord> {
  const { process: target, signal } = faultCatalog[name];
  const find = (s: SupervisorStatus | null) => s?.processes.find((p) => p.name === target);
  const before = find(await readSupervisorStatus(o.statusFile));
  if (before?.state !== "running" || before.pid === null)
    throw new Error(`${target} does not run: ${JSON.stringify(before)}`);
  const snapshot = o.snapshot();
  const tree = [
    ...treeOf(snapshot, before.pid).filter((p) => p.pid !== before.pid),
    ...(target === "build-runner"
      ? [...snapshot.values()].filter((p) => p.ours && p.ppid === 1 && !p.what.startsWith("node"))
      : []),
  ];
  const at = Date.now();
  process.kill(before.pid, signal);
  const record: FaultRecord = {
    name,
    process: target,
    signal,
    at,
    pid: before.pid,
    newPid: null,
    restartedMs: null,
    readyMs: null,
    notReady: {},
    tree,
    aliveAfter1s: [],
    aliveOnceRecovered: [],
    firstStart: null,
    firstComplete: null,
  };
  const oneSecondAfter = sleep(1000).then(() => {
    record.aliveAfter1s = stillRunning(tree, o.snapshot());
  });
  const deadline = at + 120_000;
  while (Date.now() < deadline) {
    const now = find(await readSupervisorStatus(o.statusFile).catch(() => null));
    if (
      record.restartedMs === null &&
      now?.state === "running" &&
      now.pid !== null &&
      now.pid !== before.pid
    ) {
      record.restartedMs = Date.now() - at;
      record.newPid = now.pid;
    }
    const unready = await readyz(o.readyUrls);
    for (const [service, answer] of Object.entries(unready)) record.notReady[service] ??= answer;
    if (record.restartedMs !== null && Object.keys(unready).length === 0) {
      record.readyMs = Date.now() - at;
      break;
    }
    await sleep(200);
  }
  await oneSecondAfter;
  record.aliveOnceRecovered = stillRunning(tree, o.snapshot());
  return record;
}

// ---------------------------------------------------------------------------------------------
// what Kiln recorded

type BuildRow = {
  name: string;
  build_config: string;
  number: number;
  phase: string;
  reason: string | null;
  message: string | null;
  request_id: string;
  attempt: number;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  digest: string | null;
  commit: string | null;
  trigger_image: string | null;
};
const terminal = new Set(["Complete", "Failed", "Error", "Cancelled"]);
const serialConfigs = ["ser", "hook", "chain-up", "chain-down"];

async function readBuilds(pool: pg.Pool): Promise<BuildRow[]> {
  const { rows } = await pool.query<BuildRow>(
    `select name, build_config, number, phase, reason, message, request_id, attempt,
            created_at, started_at, completed_at, output->>'digest' as digest,
            spec->'revision'->>'commit' as commit, spec->'triggeredBy'->0->>'image' as trigger_image
       from builds where namespace = $1 order by build_config, number`,
    [NS],
  );
  return rows;
}

/** Pairs of builds of one Serial BuildConfig whose Running spans (start → completion) overlap. */
function serialOverlaps(builds: BuildRow[], endedAt: number): { a: string; b: string }[] {
  const overlaps: { a: string; b: string }[] = [];
  for (const bc of serialConfigs) {
    const spans = builds
      .filter((b) => b.build_config === bc && b.started_at !== null)
      .map((b) => ({
        name: b.name,
        start: b.started_at!.getTime(),
        // A terminal build without a completion time ran no further than its last status.
        end:
          b.completed_at?.getTime() ?? (terminal.has(b.phase) ? b.started_at!.getTime() : endedAt),
      }))
      .sort((x, y) => x.start - y.start);
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length && spans[j]!.start < spans[i]!.end; j++)
        overlaps.push({ a: spans[i]!.name, b: spans[j]!.name });
  }
  return overlaps;
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m)
      env[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/\\(["\\$`])/g, "$1") : m[2]!;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------

let up: KilnUp | undefined;
let workDir: string | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await stopKilnUp(up).catch((e: unknown) => console.error(`stopping kiln up: ${String(e)}`));
    if (workDir && !args.keep) await rm(workDir, { recursive: true, force: true });
    else if (workDir) console.log(`kept ${workDir}`);
  })());
process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));

async function main(): Promise<number> {
  const startFacts = machineFacts();
  const marker = `kiln-faults-${fileStamp(startFacts.date).toLowerCase()}`;
  const head = (
    await runChecked("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot })
  ).stdout.trim();
  const dirty = (await runChecked("git", ["status", "--porcelain"], { cwd: repoRoot })).stdout
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.includes("bench/"))
    .map((l) => l.slice(3));
  console.log(
    `Kiln fault benchmark: faults ${faults.join(", ")}; a request every ${intervalMs} ms; ${seconds(warmupMs)} s before the first fault, ${seconds(gapMs)} s between faults`,
  );
  if (dirty.length > 0)
    console.log(`note: the tree has uncommitted changes that kiln up runs: ${dirty.join(", ")}`);

  workDir = await mkdtemp(join(tmpdir(), "kiln-bench-faults-"));
  // As root, PostgreSQL runs as the postgres user and the runner as the build user: both pass through.
  await chmod(workDir, 0o711);
  const stateDir = join(workDir, "state");
  console.log(`kiln up --demo under ${stateDir} (the base image, then the six services)...`);
  const upStarted = Date.now();
  up = await startKilnUp({ stateDir, args: ["--demo"] });
  const kilnUp = up;
  const upMs = Date.now() - upStarted;
  const env = parseEnvFile(await readFile(join(stateDir, "env"), "utf8"));
  const registry = env.KILN_REGISTRY!;
  const base = `${registry}/base/busybox:latest`;
  const run = `RUN echo ${marker} > /built.txt && sleep ${buildSleep}`;
  const hookRepo = await makeGitRepo(
    { Dockerfile: `FROM ${base}\n${run}\n` },
    { parentDir: workDir },
  );
  const kiln: Kiln = {
    apiUrl: env.KILN_API_URL!,
    webhookUrl: env.KILN_WEBHOOK_URL!,
    token: env.KILN_TOKEN!,
    hookRepo: hookRepo.dir,
  };
  const apiPort = kilnUp.ports.api;
  const readyUrls: Record<ServiceName, string> = {
    api: kiln.apiUrl,
    "webhook-receiver": kiln.webhookUrl,
    // The workers' health ports follow the api port, as `kiln up` sets them.
    scheduler: `http://127.0.0.1:${apiPort + 2}`,
    "build-runner": `http://127.0.0.1:${apiPort + 3}`,
    "image-watcher": `http://127.0.0.1:${apiPort + 4}`,
    deployer: `http://127.0.0.1:${apiPort + 5}`,
  };

  const history = { successfulBuildsHistoryLimit: 100_000, failedBuildsHistoryLimit: 100_000 };
  const inline = (name: string, runPolicy: string) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { dockerfile: `FROM ${base}\n${run}\n` },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
      runPolicy,
      ...history,
    },
  });
  const items = [
    ...["par", "ser", "hook", "chain-up", "chain-down"].map((name) => ({
      apiVersion: "kiln.dev/v1",
      kind: "ImageStream",
      metadata: { name },
      spec: {},
    })),
    inline("par", "Parallel"),
    inline("ser", "Serial"),
    inline("chain-up", "Serial"),
    {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "hook" },
      spec: {
        source: { git: { uri: hookRepo.url, ref: "main" } },
        strategy: { type: "Docker", dockerStrategy: {} },
        output: { to: { kind: "ImageStreamTag", name: "hook:latest" } },
        triggers: [{ type: "GitHub", github: { secret } }],
        runPolicy: "Serial",
        ...history,
      },
    },
    {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "chain-down" },
      spec: {
        // FROM is replaced by the strategy's from: chain-up:latest, pinned by the image change.
        source: { dockerfile: `FROM chain-up\n${run}\n` },
        strategy: {
          type: "Docker",
          dockerStrategy: { from: { kind: "ImageStreamTag", name: "chain-up:latest" } },
        },
        output: { to: { kind: "ImageStreamTag", name: "chain-down:latest" } },
        triggers: [{ type: "ImageChange" }],
        runPolicy: "Serial",
        ...history,
      },
    },
  ];
  const applied = await send(
    `${kiln.apiUrl}/apis/v1/apply`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${kiln.token}`, "content-type": "application/json" },
      body: JSON.stringify({ items }),
    },
    30_000,
  );
  if (!("status" in applied) || applied.status !== 200)
    throw new Error(`apply: ${JSON.stringify(applied)}`);

  const statusFile = supervisorStatusFile(stateDir);
  const load = new Load(kiln, hookRepo.commit);
  const loadStarted = Date.now();
  console.log(`load started; kiln up took ${seconds(upMs)} s to come up`);
  load.start();
  const records: FaultRecord[] = [];
  try {
    for (const [i, name] of faults.entries()) {
      await sleep(Math.max(0, loadStarted + warmupMs + i * gapMs - Date.now()));
      const { process: target, signal } = faultCatalog[name];
      console.log(
        `[${seconds(Date.now() - loadStarted)} s] ${signal} ${target} (${load.requests.length} requests sent so far)`,
      );
      const record = await inflict(name, {
        statusFile,
        readyUrls,
        snapshot: () => processSnapshot(stateDir, marker),
      });
      records.push(record);
      console.log(
        `  running again after ${record.restartedMs === null ? "—" : seconds(record.restartedMs)} s, every /readyz 200 after ${record.readyMs === null ? "— (not within 120 s)" : seconds(record.readyMs)} s${
          Object.keys(record.notReady).length
            ? `; not ready meanwhile: ${Object.entries(record.notReady)
                .map(([s, a]) => `${s} ${a}`)
                .join(", ")}`
            : ""
        }${record.tree.length ? `; of its ${record.tree.length} child processes ${record.aliveAfter1s.length} ran 1 s after, ${record.aliveOnceRecovered.length} once recovered${record.aliveOnceRecovered.length ? ` (${record.aliveOnceRecovered.map((p) => p.what).join(", ")})` : ""}` : ""}`,
      );
    }
    await sleep(Math.max(0, loadStarted + warmupMs + faults.length * gapMs - Date.now()));
  } finally {
    console.log(`stopping the load; waiting for the requests in flight`);
    await load.stop();
  }
  const loadEnded = Date.now();

  // The end: every build terminal, every accepted request with its build, the chain's last image built.
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  let builds: BuildRow[] = [];
  let tags: { image_stream: string; digest: string; build_name: string | null }[] = [];
  try {
    console.log(
      `${load.requests.length} requests sent; waiting up to ${seconds(settleMs)} s for every build to end`,
    );
    const lastChainUp = async () =>
      (
        await pool.query<{ digest: string }>(
          "select digest from image_stream_tags where namespace = $1 and image_stream = 'chain-up' and tag = 'latest' order by created_at desc limit 1",
          [NS],
        )
      ).rows[0]?.digest;
    for (;;) {
      builds = await readBuilds(pool);
      const open = builds.filter((b) => !terminal.has(b.phase)).length;
      const ids = new Set(builds.map((b) => b.request_id));
      const missing = load.requests.filter((r) => !ids.has(r.requestId)).length;
      const chainHead = await lastChainUp().catch(() => undefined);
      const chained =
        chainHead === undefined ||
        builds.some((b) => b.build_config === "chain-down" && b.trigger_image?.endsWith(chainHead));
      if ((open === 0 && missing === 0 && chained) || Date.now() > loadEnded + settleMs) break;
      await sleep(2000);
    }
    builds = await readBuilds(pool);
    tags = (
      await pool.query<{ image_stream: string; digest: string; build_name: string | null }>(
        "select image_stream, digest, build_name from image_stream_tags where namespace = $1 and tag = 'latest' order by created_at",
        [NS],
      )
    ).rows;
  } finally {
    await pool.end();
  }
  const settledMs = Date.now() - loadEnded;
  // Idle now: whatever of ours runs outside `kiln up`'s tree belongs to no build any more.
  const idle = processSnapshot(stateDir, marker);
  const upTree = new Set(treeOf(idle, kilnUp.process.pid ?? -1).map((p) => p.pid));
  const orphansAtEnd = [...idle.values()].filter((p) => p.ours && !upTree.has(p.pid));
  const finalStatus = await readSupervisorStatus(statusFile);

  console.log("stopping kiln up (SIGINT, as Ctrl-C)...");
  const stopStarted = Date.now();
  kilnUp.process.kill("SIGINT");
  const upExit = await kilnUp.exited;
  const stopMs = Date.now() - stopStarted;
  // Whatever outlives `kiln up` by more than a moment is left behind.
  await sleep(2000);
  const leftovers = [...processSnapshot(stateDir, marker).values()].filter((p) => p.ours);
  const workRoot = join(stateDir, "builds", "work");
  // Anything left in the work dirs' root, and what a runner's own dir (`kiln-runner-<id>`) still holds.
  const leftoverWorkDirs = existsSync(workRoot)
    ? readdirSync(workRoot, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() && e.name.startsWith("kiln-runner-")
          ? [e.name, ...readdirSync(join(workRoot, e.name)).map((c) => `${e.name}/${c}`)]
          : [e.name],
      )
    : [];
  const leftoverContainers = storeContainers(join(stateDir, "builds", "storage"));
  const upOutput = kilnUp.output();

  // ------------------------------------------------------------------------------------------
  // figures

  const byRequest = new Map<string, BuildRow[]>();
  for (const b of builds) byRequest.set(b.request_id, [...(byRequest.get(b.request_id) ?? []), b]);
  const requests = load.requests;
  const apiRequests = requests.filter((r) => r.kind === "api");
  const pushes = requests.filter((r) => r.kind === "webhook");
  const redeliveries = pushes.filter((r) => r.redelivery !== undefined);
  const lost = requests.filter((r) => !byRequest.has(r.requestId));
  const notAccepted = requests.filter((r) => r.acceptedAt === null);
  // Doubled: two builds for one request id (the database's unique index forbids it; counted
  // anyway), two builds of one pushed commit (each commit is pushed by one delivery, some
  // redelivered), two builds of the chain's tail for one image of its head.
  const doubledRequests = [...byRequest].filter(([, bs]) => bs.length > 1).map(([id]) => id);
  const byCommit = new Map<string, string[]>();
  for (const b of builds.filter((x) => x.build_config === "hook" && x.commit))
    byCommit.set(b.commit!, [...(byCommit.get(b.commit!) ?? []), b.name]);
  const doubledCommits = [...byCommit].filter(([, bs]) => bs.length > 1);
  const byTrigger = new Map<string, string[]>();
  for (const b of builds.filter((x) => x.build_config === "chain-down" && x.trigger_image))
    byTrigger.set(b.trigger_image!, [...(byTrigger.get(b.trigger_image!) ?? []), b.name]);
  const doubledChain = [...byTrigger].filter(([, bs]) => bs.length > 1);
  const doubled = doubledRequests.length + doubledCommits.length + doubledChain.length;
  const stuck = builds.filter((b) => !terminal.has(b.phase));
  const overlaps = serialOverlaps(builds, Date.now());
  const complete = builds.filter((b) => b.phase === "Complete");
  // Builds a runner was given more than once (its runner died, JetStream redelivered it).
  const rerun = builds.filter((b) => b.attempt > 1);
  const spanMs = (b: BuildRow) =>
    b.started_at && b.completed_at ? b.completed_at.getTime() - b.started_at.getTime() : NaN;
  const phases: Record<string, number> = {};
  for (const b of builds) {
    const key = b.phase === "Complete" ? b.phase : `${b.phase}${b.reason ? ` ${b.reason}` : ""}`;
    phases[key] = (phases[key] ?? 0) + 1;
  }
  // The chain: the head's last image has a build of the tail.
  const chainHead = tags.filter((t) => t.image_stream === "chain-up").at(-1);
  const chainTail = chainHead
    ? builds.filter(
        (b) => b.build_config === "chain-down" && b.trigger_image?.endsWith(chainHead.digest),
      )
    : [];
  const chainUpComplete = complete.filter((b) => b.build_config === "chain-up").length;
  // Every Complete build's image is recorded in its tag's history (the image-watcher's job).
  const recorded = new Set(tags.map((t) => `${t.image_stream}@${t.digest}`));
  const unrecorded = complete.filter(
    (b) => b.digest !== null && !recorded.has(`${b.build_config}@${b.digest}`),
  );
  // Recovery: the first build of a request first sent after the fault that completed.
  for (const record of records) {
    const first = (at: (b: BuildRow) => Date | null) => {
      let best: FaultRecord["firstStart"] = null;
      for (const r of requests) {
        if (r.firstSentAt < record.at) continue;
        const b = byRequest.get(r.requestId)?.[0];
        const t = b ? at(b) : null;
        if (!b || !t) continue;
        const ms = t.getTime() - record.at;
        if (best === null || ms < best.ms) best = { request: r.id, build: b.name, ms };
      }
      return best;
    };
    record.firstStart = first((b) => b.started_at);
    record.firstComplete = first((b) => (b.phase === "Complete" ? b.completed_at : null));
  }
  // Recovered: every service says it can do its job, and a new request is being built.
  const recoveryMs = (f: FaultRecord) =>
    f.readyMs === null || f.firstStart === null ? null : Math.max(f.readyMs, f.firstStart.ms);
  const faulted = new Map<string, number>();
  for (const f of records) faulted.set(f.process, (faulted.get(f.process) ?? 0) + 1);
  const extraRestarts = (finalStatus?.processes ?? [])
    .filter((p) => p.restarts !== (faulted.get(p.name) ?? 0))
    .map((p) => ({
      name: p.name,
      restarts: p.restarts,
      faulted: faulted.get(p.name) ?? 0,
      lastExit: p.lastExit,
    }));
  const cutOff = [
    ...upOutput.matchAll(/^ {2}(\S+) stopped \(.*: it outlived its stop timeout\)/gm),
  ].map((m) => m[1]!);

  const pass = (ok: boolean) => (ok ? "PASS" : "**MISS**");
  const slowest = Math.max(...records.map((f) => recoveryMs(f) ?? Infinity));
  const targets = {
    lost: lost.length === 0,
    doubled: doubled === 0,
    stuck: stuck.length === 0,
    overlaps: overlaps.length === 0,
    leftovers: leftovers.length === 0 && leftoverWorkDirs.length === 0,
    recovery: records.every((f) => (recoveryMs(f) ?? Infinity) <= RECOVERY_TARGET_S * 1000),
  };
  const list = (xs: string[], n = 6) =>
    xs.length === 0 ? "" : `: ${xs.slice(0, n).join(", ")}${xs.length > n ? ", …" : ""}`;
  const count = (xs: Record<string, number>) =>
    Object.entries(xs)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} × ${v}`)
      .join(", ");
  const answersOf = (rs: SentRequest[]) => {
    const all: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.answers)) all[k] = (all[k] ?? 0) + v;
    return count(all);
  };
  const summary = [
    "| measure | result | target |",
    "| --- | --- | --- |",
    `| requests sent | ${requests.length}: ${apiRequests.length} instantiate (answers: ${answersOf(apiRequests)}), ${pushes.length} signed pushes (answers: ${answersOf(pushes)}); ${redeliveries.length} pushes redelivered with the same delivery id (answered: ${count(tally(redeliveries.map((r) => String(r.redelivery!.acceptedStatus ?? "never")))) || "none"}) | |`,
    `| builds | ${builds.length}: ${count(phases)}; of them ${builds.filter((b) => b.build_config === "chain-down").length} of the chain's tail, set off by ${chainUpComplete} Complete builds of its head; given to a runner more than once: ${rerun.length}${list(rerun.map((b) => `${b.name} (attempt ${b.attempt}, ${b.phase}, ${seconds(spanMs(b))} s start → completion)`))} | |`,
    `| builds Complete | ${complete.length} | |`,
    `| lost (a request with no build) | ${lost.length}${list(lost.map((r) => r.id))}${notAccepted.length ? `; never accepted after ${retryDeadlineMs / 1000} s of retries: ${notAccepted.length}` : ""} | 0: ${pass(targets.lost)} |`,
    `| doubled (two builds for one request id, pushed commit or image of the chain's head) | ${doubled}${list([...doubledRequests, ...doubledCommits.map(([c]) => c.slice(0, 12)), ...doubledChain.map(([i]) => i.slice(-12))])} | 0: ${pass(targets.doubled)} |`,
    `| stuck (not terminal ${seconds(settleMs)} s after the end) | ${stuck.length}${list(stuck.map((b) => `${b.name} ${b.phase}`))} | 0: ${pass(targets.stuck)} |`,
    `| Serial overlaps (two builds of a Serial BuildConfig Running at once) | ${overlaps.length}${list(overlaps.map((o) => `${o.a} / ${o.b}`))} | 0: ${pass(targets.overlaps)} |`,
    `| leftover processes after \`kiln up\` stopped | ${leftovers.length}${list(leftovers.map((p) => `${p.what} ${p.pid}`))} | 0: ${pass(leftovers.length === 0)} |`,
    `| leftover work dirs (\`<state>/builds/work\`) | ${leftoverWorkDirs.length}${list(leftoverWorkDirs)}; containers in the runner's store: ${leftoverContainers} | 0: ${pass(leftoverWorkDirs.length === 0)} |`,
    `| slowest recovery | ${Number.isFinite(slowest) ? `${seconds(slowest)} s` : "not recovered"} | ≤ ${RECOVERY_TARGET_S} s: ${pass(targets.recovery)} |`,
  ].join("\n");
  const faultTable = [
    "| fault | at | running again | every /readyz 200 | first new request's build Running | recovery | ≤ 10 s | first new request's build Complete | not ready meanwhile | its child processes: running 1 s after / once recovered |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ...records.map((f) => {
      const r = recoveryMs(f);
      return `| ${f.signal === "SIGKILL" ? "kill -9" : f.signal} ${f.process} | ${seconds(f.at - loadStarted)} s | ${f.restartedMs === null ? "—" : `${seconds(f.restartedMs)} s`} | ${f.readyMs === null ? "—" : `${seconds(f.readyMs)} s`} | ${f.firstStart ? `${seconds(f.firstStart.ms)} s (${f.firstStart.build})` : "—"} | ${r === null ? "—" : `${seconds(r)} s`} | ${pass(r !== null && r <= RECOVERY_TARGET_S * 1000)} | ${f.firstComplete ? `${seconds(f.firstComplete.ms)} s (${f.firstComplete.build})` : "—"} | ${
        Object.entries(f.notReady)
          .map(([s, a]) => `${s} ${a}`)
          .join(", ") || "none"
      } | ${f.tree.length === 0 ? "none" : `${f.signal === "SIGKILL" ? f.aliveAfter1s.length : "—"} / ${f.aliveOnceRecovered.length} of ${f.tree.length}${f.aliveOnceRecovered.length ? ` (${f.aliveOnceRecovered.map((p) => p.what).join(", ")})` : ""}`} |`;
    }),
  ].join("\n");
  const facts = machineFacts();
  const refusals: Record<string, string> = {};
  for (const r of requests)
    for (const [k, v] of Object.entries({ ...r.bodies, ...r.redelivery?.bodies }))
      refusals[`${r.kind === "api" ? "instantiate" : "push"} ${k}`] ??= v;
  const notes = [
    `Answers other than 2xx (the first body of each): ${
      Object.entries(refusals)
        .map(([k, v]) => `${k} \`${v.replaceAll("|", "\\|").replaceAll("`", "'")}\``)
        .join("; ") || "none"
    }.`,
    `Chain: ${chainHead ? `its head's last image (${chainHead.build_name ?? "?"}) ${chainTail.length > 0 ? `was built by ${chainTail.map((b) => `${b.name} (${b.phase})`).join(", ")}` : "**was never built by its tail**"}` : "its head never completed"}. Complete builds whose image no tag history records: ${unrecorded.length}${list(unrecorded.map((b) => b.name))}.`,
    `Restarts besides the faults: ${extraRestarts.length === 0 ? "none" : extraRestarts.map((p) => `${p.name} ${p.restarts} (faulted ${p.faulted}; last exit ${p.lastExit ? (p.lastExit.signal ?? `code ${p.lastExit.code}`) : "none"})`).join(", ")}. Build processes outside \`kiln up\`'s tree just before it was stopped: ${orphansAtEnd.length}${list(orphansAtEnd.map((p) => p.what))}. \`kiln up\` stopped in ${seconds(stopMs)} s, exit ${upExit}${cutOff.length ? `; cut off at its stop timeout: ${cutOff.join(", ")}` : ""}.`,
    "",
    `Method: \`kiln up --demo\` (its base image; durable PostgreSQL, NATS NKeys, the api's token; came up in ${seconds(upMs)} s) from a temp state dir on free ports; BuildConfigs \`par\` (Parallel), \`ser\` (Serial), \`hook\` (Serial, a local git repo, GitHub trigger) and the chain \`chain-up\` → \`chain-down\` (Serial, ImageChange on chain-up:latest), each build \`FROM\` the demo's busybox with \`${run}\`. One request every ${intervalMs} ms, round robin ${mix.join(", ")}: \`instantiate\` with a requestId of the bench's, or a new commit in the repo and a signed push of it with a new delivery id; every fourth push delivered again with the same id 2 s after it was accepted. A client retries a refused or unanswered request (5xx, no connection) every 0.5 s with the same id for up to ${retryDeadlineMs / 1000} s. Faults every ${seconds(gapMs)} s after ${seconds(warmupMs)} s of load; the load ran ${seconds(loadEnded - loadStarted)} s, everything had ended ${seconds(settledMs)} s after it. Recovery = the later of: every service's /readyz 200 with the process running under a new pid (polled every 0.2 s), and the start (Running, the runner's startTimestamp) of the first build of a request first sent after the fault; the first such build's completion is shown beside it (a build took ${seconds(median(complete.map(spanMs).filter(Number.isFinite)))} s median, start → completion). A fault's child processes: its tree just before the signal (for the build-runner also the daemonized slirp4netns and network hooks of builds), checked by pid and start time. Leftovers: processes whose environment or command line names the state dir, or whose command is a build step of this run, 2 s after \`kiln up\` exited.`,
    "",
    `Kiln at ${head}${dirty.length ? ` with others' uncommitted changes in ${dirty.join(", ")}` : ""}. Machine: ${facts.cores} cores (${facts.cpuModel?.trim()}), ${facts.memoryGiB} GiB, Linux ${release()}, node ${facts.node}, ${facts.date}; load average ${startFacts.loadAverage.map((x) => x.toFixed(2)).join("/")} at start, ${facts.loadAverage.map((x) => x.toFixed(2)).join("/")} at the end.`,
  ].join("\n");
  const met = Object.values(targets).every(Boolean);
  const table = `${summary}\n\n${faultTable}\n\n${notes}\n\n**Targets ${met ? "met" : "not all met"}**: ${Object.entries(
    targets,
  )
    .map(([k, ok]) => `${k} ${ok ? "PASS" : "MISS"}`)
    .join(", ")}.`;
  console.log(`\n${table}\n`);
  await writeBenchResults({
    name: "faults",
    title: "Fault benchmark",
    date: facts.date,
    table,
    json: {
      facts,
      startFacts,
      kiln: { head, dirty },
      args: { intervalMs, gapMs, warmupMs, settleMs, faults, buildSleep },
      upMs,
      loadMs: loadEnded - loadStarted,
      settledMs,
      stopMs,
      upExit,
      targets,
      faults: records.map((f) => ({ ...f, recoveryMs: recoveryMs(f) })),
      lost: lost.map((r) => r.id),
      notAccepted: notAccepted.map((r) => ({ id: r.id, answers: r.answers, refused: r.refused })),
      doubled: { requests: doubledRequests, commits: doubledCommits, chain: doubledChain },
      stuck: stuck.map((b) => ({ name: b.name, phase: b.phase })),
      overlaps,
      leftovers,
      leftoverWorkDirs,
      leftoverContainers,
      orphansAtEnd,
      extraRestarts,
      finalStatus,
      supervisorLines: upOutput
        .split("\n")
        .filter((l) => /exited|running again|did not start|keeps failing|stopped/.test(l)),
      requests,
      builds,
      tags,
    },
    readme: !args["no-readme"],
  });
  await writeFile(join(workDir, "kiln-up.log"), upOutput);
  return met ? 0 : 1;
}

function tally(xs: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const x of xs) counts[x] = (counts[x] ?? 0) + 1;
  return counts;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

runBench(main, cleanup);
