/**
 * Redeploy benchmark (not a timed test): image change recorded → workload patch sent.
 *
 * Real NATS (JetStream) and PostgreSQL, the real deployer service as its own process
 * (services/deployer/src/main.ts, as `kiln up` starts it), and a STAND-IN Kubernetes API server
 * (StandInApiServer of @kiln/testing) in this process: no cluster can be had on the build
 * machines. The stand-in holds the annotated Deployments, plays their rollout controller, and
 * stamps each request when it arrives.
 *
 * t0 ("recorded"): this process records an ImageStream tag move exactly as the image-watcher's
 * TagRecorder does (history row + `image.changed` published inside the transaction) and takes
 * the clock right before the publish. t1 ("patch sent"): the stand-in receives the deployer's
 * PATCH of a follower. Same process, same clock (`performance.timeOrigin + performance.now()`).
 *
 *   npx tsx bench/deploys.bench.ts [--changes 200] [--workloads 50] [--tags 10] [--interval-ms 50] [--warmup 10] [--no-readme]
 */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Bus, imageChangeKey } from "@kiln/bus";
import { createDatabase, recordTagUpdate } from "@kiln/db";
import { createLogger } from "@kiln/runtime";
import { enableRolloutController, StandInApiServer, type KubeObject } from "@kiln/testing/kube";
import { fileStamp, startBenchEnvironment, startBenchKiln } from "./support.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(repoRoot, "bench", "results");
const TARGET_P99_MS = 100;

const { values: args } = parseArgs({
  options: {
    changes: { type: "string", default: "200" },
    workloads: { type: "string", default: "50" },
    tags: { type: "string", default: "10" },
    "interval-ms": { type: "string", default: "50" },
    warmup: { type: "string", default: "10" },
    "no-readme": { type: "boolean", default: false },
  },
});
const changes = Number(args.changes);
const workloads = Number(args.workloads);
const tagCount = Number(args.tags);
const intervalMs = Number(args["interval-ms"]);
const warmup = Number(args.warmup);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const registry = "registry.bench:5000";

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

function deployment(i: number): KubeObject {
  const tag = `app${i % tagCount}:latest`;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: `web-${i}`,
      namespace: "apps",
      annotations: {
        "kiln.dev/triggers": JSON.stringify([
          {
            from: { kind: "ImageStreamTag", name: tag },
            fieldPath: 'spec.template.spec.containers[?(@.name=="web")].image',
          },
        ]),
      },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: `web-${i}` } },
      template: {
        metadata: { labels: { app: `web-${i}` } },
        spec: {
          containers: [
            { name: "sidecar", image: "envoy:1" },
            { name: "web", image: `${registry}/apps/app:old` },
          ],
        },
      },
    },
  };
}

async function main(): Promise<number> {
  const env = await startBenchEnvironment("deploys");
  const logger = createLogger({ service: "deploys-bench", level: "warn" });
  try {
    console.log("starting nats, postgres, the stand-in Kubernetes API server and the deployer");
    const { servers, workDir } = env;

    const kube = await StandInApiServer.start();
    env.onCleanup(() => kube.stop());
    enableRolloutController(kube, { delayMs: 20 });
    for (let i = 0; i < workloads; i++) kube.create(deployment(i));
    const kubeconfig = await kube.writeKubeconfig(join(workDir, "kubeconfig"));

    await startBenchKiln(env, {
      services: ["deployer"],
      extraEnv: {
        LOG_LEVEL: "warn",
        KUBECONFIG: kubeconfig,
        DEPLOYER_NAMESPACES: "apps",
        DEPLOYER_ROLLOUT_DEADLINE_MS: "60000",
      },
    });
    // The deployer is healthy once its consumer runs; its watches list right after.
    while (kube.watchCount("Deployment") < 1) await sleep(10);

    const database = createDatabase(servers.databaseUrl);
    env.onCleanup(() => database.close());
    const bus = await Bus.connect({
      servers: servers.natsUrl,
      prefix: "kiln",
      name: "deploys-bench",
      logger,
      // The bench plays the image-watcher: it publishes the image changes.
      identity: { role: "image-watcher", nkeySeed: env.bus.busCredentials["image-watcher"] },
    });
    env.onCleanup(() => bus.drain());

    // When the stand-in first received a PATCH setting a workload to a digest: `<workload>@<digest>`.
    const patches = new Map<string, number>();
    kube.onRequest((r) => {
      if (r.method !== "PATCH") return;
      const body = r.body as
        { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } } | undefined;
      const image = body?.spec?.template?.spec?.containers?.[0]?.image ?? "";
      const key = `${r.path.split("/").pop()!}@${image.slice(image.indexOf("@") + 1)}`;
      if (!patches.has(key)) patches.set(key, r.receivedAt);
    });

    /** What TagRecorder does, with the clock read right before the publish. */
    const recordChange = async (
      n: number,
    ): Promise<{ tag: number; digest: string; t0: number }> => {
      const tag = n % tagCount;
      const digest = digestOf(n + 1);
      const imageStream = `app${tag}`;
      const imageReference = `${registry}/apps/${imageStream}@${digest}`;
      let t0 = 0;
      await recordTagUpdate(
        database.db,
        {
          namespace: "apps",
          imageStream,
          tag: "latest",
          digest,
          imageReference,
          cause: { type: "Build", build: `${imageStream}-${n}` },
        },
        async ({ previousDigest, item }) => {
          t0 = now();
          await bus.publish(
            "image.changed",
            imageChangeKey("apps", imageStream, "latest"),
            {
              v: 1,
              namespace: "apps",
              imageStream,
              tag: "latest",
              digest,
              imageReference,
              ...(previousDigest ? { previousDigest } : {}),
              cause: { type: "Build", build: `${imageStream}-${n}` },
              at: new Date().toISOString(),
              itemId: item.id,
            },
            { msgId: `apps/${imageStream}:latest@${digest}` },
          );
        },
      );
      return { tag, digest, t0 };
    };
    const followersOf = (tag: number) =>
      Array.from({ length: workloads }, (_, i) => i)
        .filter((i) => i % tagCount === tag)
        .map((i) => `web-${i}`);

    console.log(
      `${warmup} warm-up changes, then ${changes} changes, one every ${intervalMs} ms, over ${tagCount} tags followed by ${workloads} Deployments`,
    );
    const sent: { n: number; tag: number; digest: string; t0: number }[] = [];
    const load0 = loadavg();
    const started = now();
    for (let n = 0; n < warmup + changes; n++) {
      const tick = now();
      const change = await recordChange(n);
      sent.push({ n, ...change });
      const wait = intervalMs - (now() - tick);
      if (wait > 0) await sleep(wait);
    }
    const loopSeconds = (now() - started) / 1000;

    // Every follower of every change patched, every deploy ended.
    const deadline = Date.now() + 60_000;
    let deploys = await database.db.query.deploys.findMany();
    while (Date.now() < deadline) {
      deploys = await database.db.query.deploys.findMany();
      if (
        deploys.length >= (warmup + changes) * (workloads / tagCount) &&
        deploys.every((d) => d.status !== "Pending" && d.status !== "Rolling")
      )
        break;
      await sleep(100);
    }

    const perPatch: number[] = [];
    const perChange: number[] = [];
    // A follower is not patched for a change when a newer digest of its tag was recorded before
    // the deployer got to it (Skipped, Superseded): it is patched for the newer one instead.
    const supersededKeys = new Set(
      deploys.filter((d) => d.reason === "Superseded").map((d) => `${d.targetName}@${d.digest}`),
    );
    let missing = 0;
    let superseded = 0;
    for (const s of sent) {
      if (s.n < warmup) continue;
      let last: number | undefined;
      for (const w of followersOf(s.tag)) {
        const t1 = patches.get(`${w}@${s.digest}`);
        if (t1 === undefined) {
          if (supersededKeys.has(`${w}@${s.digest}`)) superseded += 1;
          else missing += 1;
          continue;
        }
        perPatch.push(t1 - s.t0);
        last = Math.max(last ?? 0, t1 - s.t0);
      }
      if (last !== undefined) perChange.push(last);
    }
    const byStatus = new Map<string, number>();
    for (const d of deploys)
      byStatus.set(
        `${d.status}${d.reason ? ` (${d.reason})` : ""}`,
        (byStatus.get(`${d.status}${d.reason ? ` (${d.reason})` : ""}`) ?? 0) + 1,
      );
    const conflicts = kube.requests.filter((r) => r.method === "PATCH" && r.status === 409).length;
    const totalPatches = kube.requests.filter((r) => r.method === "PATCH").length;
    // Each workload ends on the last digest of its tag.
    const lastOfTag = new Map<number, string>();
    for (const s of sent) lastOfTag.set(s.tag, s.digest);
    const wrongFinal = Array.from({ length: workloads }, (_, i) => i).filter((i) => {
      const d = kube.get("Deployment", "apps", `web-${i}`) as
        | { spec: { template: { spec: { containers: { name: string; image: string }[] } } } }
        | undefined;
      return !d?.spec.template.spec.containers
        .find((c) => c.name === "web")
        ?.image.endsWith(lastOfTag.get(i % tagCount)!);
    }).length;

    const patch = summarize(perPatch);
    const change = summarize(perChange);
    const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    const table = [
      "| metric | n | p50 | p90 | p99 | max | mean |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      `| image change recorded → PATCH received, per follower, ms | ${patch.n} | ${f(patch.p50)} | ${f(patch.p90)} | ${f(patch.p99)} | ${f(patch.max)} | ${f(patch.mean)} |`,
      `| image change recorded → last follower's PATCH received, per change, ms | ${change.n} | ${f(change.p50)} | ${f(change.p90)} | ${f(change.p99)} | ${f(change.max)} | ${f(change.mean)} |`,
    ].join("\n");
    const pass = patch.p99 < TARGET_P99_MS && missing === 0 && wrongFinal === 0;
    const verdict = `**p99 < ${TARGET_P99_MS} ms per patch: ${patch.p99 < TARGET_P99_MS ? "PASS" : "FAIL"} (p99 ${f(patch.p99)} ms)**`;
    const facts = {
      date: new Date().toISOString(),
      cores: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      loadAverageStart: load0,
      loadAverageEnd: loadavg(),
    };
    const outcome = [...byStatus.entries()].map(([k, v]) => `${v} ${k}`).join(", ");
    const counts = `Deploys: ${deploys.length} (${outcome}); PATCH requests: ${totalPatches}, of which 409 Conflict: ${conflicts}; followers skipped as superseded (a newer digest of their tag came first): ${superseded}; followers never patched otherwise: ${missing}; workloads not on their tag's last digest at the end: ${wrongFinal}.`;
    const method = `Method: ${warmup} warm-up changes (not counted), then ${changes} changes, one every ${intervalMs} ms (${(changes / loopSeconds).toFixed(1)} changes/s over ${loopSeconds.toFixed(1)} s), round robin over ${tagCount} ImageStream tags; ${workloads} annotated Deployments, ${workloads / tagCount} per tag, so each change patches ${workloads / tagCount} workloads. t0 = right before \`image.changed\` is published (inside the tag-history transaction, as the image-watcher does); t1 = the stand-in Kubernetes API server receiving the deployer's PATCH. The deployer is the real service process; the Kubernetes API is the stand-in (not Kubernetes), with a rollout controller that marks each rollout available 20 ms after the patch, so the deployer also follows every rollout to Complete while changes arrive. Nearest-rank percentiles.`;
    const machine = `Machine: ${facts.cores} cores (${facts.cpuModel}), ${facts.memoryGiB} GiB, node ${facts.node}, ${facts.date}; load average ${facts.loadAverageStart.map((x) => x.toFixed(2)).join("/")} at start, ${facts.loadAverageEnd.map((x) => x.toFixed(2)).join("/")} at end.`;
    const report = `${table}\n\n${verdict}\n\n${counts}\n\n${method}\n\n${machine}\n`;
    console.log(`\n${report}`);

    await mkdir(resultsDir, { recursive: true });
    const stamp = fileStamp(facts.date);
    await writeFile(
      join(resultsDir, `deploys-${stamp}.json`),
      `${JSON.stringify({ facts, args: { changes, workloads, tags: tagCount, intervalMs, warmup }, perPatchMs: patch, perChangeMs: change, deploys: Object.fromEntries(byStatus), patches: totalPatches, conflicts, superseded, missing, wrongFinal, samples: perPatch }, null, 2)}\n`,
    );
    await writeFile(
      join(resultsDir, "deploys-latest.md"),
      `# Deploy benchmark, ${facts.date}\n\n${report}`,
    );
    if (!args["no-readme"]) await writeReadme(report);
    return pass ? 0 : 1;
  } finally {
    await env.cleanup();
  }
}

/** Rewrites the results between the deploy markers of bench/README.md (nothing else is touched). */
async function writeReadme(report: string): Promise<void> {
  const path = join(repoRoot, "bench", "README.md");
  const text = await readFile(path, "utf8");
  const start = "<!-- deploys:start -->";
  const end = "<!-- deploys:end -->";
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return;
  await writeFile(path, `${text.slice(0, from + start.length)}\n${report}${text.slice(to)}`);
}

process.exitCode = await main();
