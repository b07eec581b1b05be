/**
 * Cascade benchmark (not a timed test): a 3-level DAG of BuildConfigs set off by one base-image
 * change, against the real services (api, scheduler, build-runner, image-watcher) and the real
 * NATS and PostgreSQL, with the build-runner's `noop` engine (for benchmarks only: builds nothing,
 * reports a digest made from the build id), so what is measured is Kiln's scheduling: image
 * changes, trigger matching, ancestor deferral, build numbering, dispatch, status, tag moves.
 *
 *   level 1: --width BuildConfigs FROM base:latest
 *   level 2: 3 × width, each FROM one level-1 image with an ImageChange trigger on a second one
 *   level 3: 6 × width, each FROM one level-2 image with an ImageChange trigger on a second one
 * (width 30 = 300 BuildConfigs). `kiln tag seed:latest base:latest` sets it off.
 *
 * Checks: every BuildConfig built exactly once; every build created only after the builds of all
 * its inputs completed (dependency order); all Complete. Reports the time from the tag to the last
 * build Complete; with a zero-time engine all of it is scheduling overhead (target < 3 s).
 *
 *   npx tsx bench/cascade.bench.ts [--width 30] [--runner-slots 64] [--build-ms 0]
 */
import { mkdir, writeFile } from "node:fs/promises";
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
const TARGET_OVERHEAD_MS = 3_000;

const { values: args } = parseArgs({
  options: {
    width: { type: "string", default: "30" },
    "runner-slots": { type: "string", default: "64" },
    "build-ms": { type: "string", default: "0" },
    keep: { type: "boolean", default: false },
  },
});
const width = Number(args.width);
const runnerSlots = Number(args["runner-slots"]);
const buildMs = Number(args["build-ms"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Node = { name: string; level: number; inputs: string[] };

/** The DAG: each node's inputs are the names of the BuildConfigs whose output it follows ("base" for the root tag). */
function dag(): Node[] {
  const nodes: Node[] = [];
  const l1 = Array.from({ length: width }, (_, i) => `l1-${i}`);
  const l2 = Array.from({ length: 3 * width }, (_, i) => `l2-${i}`);
  const l3 = Array.from({ length: 6 * width }, (_, i) => `l3-${i}`);
  for (const name of l1) nodes.push({ name, level: 1, inputs: ["base"] });
  l2.forEach((name, i) =>
    nodes.push({ name, level: 2, inputs: [l1[i % width]!, l1[(i + 1) % width]!] }),
  );
  l3.forEach((name, i) =>
    nodes.push({ name, level: 3, inputs: [l2[i % l2.length]!, l2[(i + 7) % l2.length]!] }),
  );
  return nodes;
}

function buildConfig(node: Node) {
  const [first, ...others] = node.inputs;
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name: node.name },
    spec: {
      source: { dockerfile: `FROM replaced-by-strategy-from\nRUN echo ${node.name}\n` },
      strategy: {
        type: "Docker",
        dockerStrategy: { from: { kind: "ImageStreamTag", name: `${first}:latest` } },
      },
      output: { to: { kind: "ImageStreamTag", name: `${node.name}:latest` } },
      runPolicy: "Serial",
      triggers: [
        // No `from`: the strategy's base, as in OpenShift.
        { type: "ImageChange" },
        ...others.map((o) => ({
          type: "ImageChange",
          imageChange: { from: { kind: "ImageStreamTag", name: `${o}:latest` } },
        })),
      ],
    },
  };
}

async function main(): Promise<number> {
  const env = await startBenchEnvironment("cascade", { keep: args.keep });
  try {
    console.log(
      "starting nats, postgres, registry and api, scheduler, build-runner (noop engine), image-watcher",
    );
    const { servers } = env;
    const kiln = await startBenchKiln(env, {
      services: ["api", "scheduler", "build-runner", "image-watcher"],
      extraEnv: {
        LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
        BUILD_RUNNER_ENGINE: "noop",
        BUILD_RUNNER_NOOP_BUILD_MS: String(buildMs),
        BUILD_RUNNER_MAX_CONCURRENT_BUILDS: String(runnerSlots),
        ...benchNodeOptions(),
      },
    });
    const call = api(kiln);
    const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 2 });
    env.onCleanup(() => pool.end());

    const nodes = dag();
    const seed = {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "seed" },
      spec: {
        source: { dockerfile: "FROM scratch\n" },
        strategy: { type: "Docker" },
        output: { to: { kind: "ImageStreamTag", name: "seed:latest" } },
      },
    };
    const applied = await call("POST", "/apis/v1/apply", {
      items: [seed, ...nodes.map(buildConfig)],
    });
    if (applied.status !== 200) throw new Error(`apply: ${applied.text}`);
    const impact = (await call("GET", "/apis/v1/buildgraph?impact=default/base:latest")).json
      .impact as string[];
    if (impact.length !== nodes.length)
      throw new Error(`impact lists ${impact.length} BuildConfigs, want ${nodes.length}`);
    console.log(
      `applied ${nodes.length} BuildConfigs (${width} + ${3 * width} + ${6 * width}); impact of base:latest lists all ${impact.length}`,
    );

    // The image the base tag will be moved to: built once by the seed BuildConfig.
    const started = await call(
      "POST",
      "/apis/v1/namespaces/default/buildconfigs/seed/instantiate",
      {},
    );
    if (started.status >= 300) throw new Error(`seed: ${started.text}`);
    for (let i = 0; ; i += 1) {
      const { rows } = await pool.query<{ digest: string }>(
        "select t.digest from image_stream_tags t where t.namespace = 'default' and t.image_stream = 'seed' and t.tag = 'latest' limit 1",
      );
      if (rows[0]) break;
      if (i > 1000) throw new Error("the seed build never moved seed:latest");
      await sleep(20);
    }
    await sleep(1000);
    const before = await pool.query<{ n: string }>(
      "select count(*) as n from builds where build_config <> 'seed'",
    );
    if (Number(before.rows[0]!.n) !== 0)
      throw new Error(`${before.rows[0]!.n} builds before the base image changed`);

    // Profiling (KILN_BENCH_NODE_OPTIONS with a preload that starts the profiler on SIGUSR2): only the cascade.
    if (process.env.KILN_BENCH_NODE_OPTIONS)
      for (const p of kiln.processes.values()) if (p.pid) process.kill(p.pid, "SIGUSR2");
    console.log("kiln tag seed:latest base:latest");
    const t0 = Date.now();
    const tagged = await call("POST", "/apis/v1/namespaces/default/imagestreamtags", {
      from: { name: "seed:latest" },
      tag: "base:latest",
    });
    if (tagged.status !== 201) throw new Error(`tag: ${tagged.status} ${tagged.text}`);

    type Row = {
      build_config: string;
      phase: string;
      created_at: Date;
      started_at: Date | null;
      completed_at: Date | null;
    };
    let rows: Row[] = [];
    const deadline = Date.now() + 300_000;
    // A cheap poll (two counts): the benchmark must not take the CPU it is measuring.
    for (;;) {
      const { rows: counts } = await pool.query<{ built: string; unfinished: string }>(
        "select count(distinct build_config) filter (where completed_at is not null) as built, count(*) filter (where completed_at is null) as unfinished from builds where build_config <> 'seed'",
      );
      const built = Number(counts[0]!.built);
      const unfinished = Number(counts[0]!.unfinished);
      if (built >= nodes.length && unfinished === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `only ${built} of ${nodes.length} BuildConfigs built in 300 s (${unfinished} builds unfinished)`,
        );
      await sleep(20);
    }
    ({ rows } = await pool.query<Row>(
      "select build_config, phase, created_at, started_at, completed_at from builds where build_config <> 'seed'",
    ));
    const lastCompleted = Math.max(...rows.map((r) => r.completed_at!.getTime()));
    // Anything doubled shows up after a pause.
    await sleep(3000);
    ({ rows } = await pool.query<Row>(
      "select build_config, phase, created_at, started_at, completed_at from builds where build_config <> 'seed'",
    ));

    const byConfig = new Map<string, Row[]>();
    for (const r of rows)
      byConfig.set(r.build_config, [...(byConfig.get(r.build_config) ?? []), r]);
    const missing = nodes.filter((n) => !byConfig.has(n.name)).map((n) => n.name);
    const doubled = [...byConfig].filter(([, bs]) => bs.length > 1).map(([name]) => name);
    const notComplete = rows
      .filter((r) => r.phase !== "Complete")
      .map((r) => `${r.build_config} ${r.phase}`);
    const outOfOrder: string[] = [];
    for (const node of nodes) {
      const own = byConfig.get(node.name)?.[0];
      if (!own) continue;
      for (const input of node.inputs) {
        if (input === "base") continue;
        const upstream = byConfig.get(input)?.[0];
        if (!upstream?.completed_at || own.created_at.getTime() < upstream.completed_at.getTime())
          outOfOrder.push(`${node.name} before ${input}`);
      }
    }
    const totalMs = lastCompleted - t0;
    const criticalPathBuildMs = 3 * buildMs;
    const overheadMs = totalMs - criticalPathBuildMs;
    const levelEnd = (level: number) =>
      Math.max(
        ...nodes
          .filter((n) => n.level === level)
          .map((n) => byConfig.get(n.name)?.[0]?.completed_at?.getTime() ?? NaN),
      ) - t0;
    const ok =
      missing.length === 0 &&
      doubled.length === 0 &&
      notComplete.length === 0 &&
      outOfOrder.length === 0;

    const table = [
      "| measure | result |",
      "| --- | --- |",
      `| BuildConfigs | ${nodes.length} (levels of ${width}, ${3 * width}, ${6 * width}; every level-2 and level-3 one has two inputs) |`,
      `| builds made | ${rows.length}: ${missing.length} BuildConfigs without a build, ${doubled.length} with more than one |`,
      `| dependency order | ${outOfOrder.length === 0 ? "every build created after all its inputs' builds completed" : `${outOfOrder.length} violations: ${outOfOrder.slice(0, 5).join(", ")}`} |`,
      `| phases | ${notComplete.length === 0 ? "all Complete" : notComplete.slice(0, 5).join(", ")} |`,
      `| tag → level 1 / 2 / 3 all Complete | ${levelEnd(1)} / ${levelEnd(2)} / ${levelEnd(3)} ms |`,
      `| tag → last build Complete | ${totalMs} ms (engine time on the critical path: ${criticalPathBuildMs} ms) |`,
      `| **scheduling overhead** | **${overheadMs} ms** |`,
    ].join("\n");
    const verdict =
      ok && overheadMs < TARGET_OVERHEAD_MS
        ? `meets the target (each dispatched once, in order, overhead < ${TARGET_OVERHEAD_MS} ms)`
        : `MISSES the target (each dispatched once, in order, overhead < ${TARGET_OVERHEAD_MS} ms)`;
    console.log(`\n${table}\n\n${verdict}`);

    const facts = machineFacts();
    await mkdir(resultsDir, { recursive: true });
    const stamp = fileStamp(facts.date);
    const result = {
      facts,
      args: { width, runnerSlots, buildMs },
      buildConfigs: nodes.length,
      builds: rows.length,
      missing,
      doubled,
      outOfOrder,
      notComplete,
      totalMs,
      overheadMs,
      levelEndMs: [levelEnd(1), levelEnd(2), levelEnd(3)],
    };
    await writeFile(
      join(resultsDir, `cascade-${stamp}.json`),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    await writeFile(
      join(resultsDir, "cascade-latest.md"),
      `# Cascade benchmark, ${facts.date}\n\n${facts.cores} cores (${facts.cpuModel}), ${facts.memoryGiB} GiB, node ${facts.node}, load ${facts.loadAverage.map((x) => x.toFixed(2)).join(" ")}; runner slots ${runnerSlots}, noop engine ${buildMs} ms a build\n\n${table}\n\n${verdict}.\n`,
    );
    return ok && overheadMs < TARGET_OVERHEAD_MS ? 0 : 1;
  } finally {
    await env.cleanup();
  }
}

process.exitCode = await main();
