/**
 * Single-build figures of the fast paths: a 20 MB `--from-file` binary build, request → Complete,
 * by layer-append (no container) and by buildah (BUILD_RUNNER_LAYER_APPEND=false), one build at
 * a time against the real services, a durable PostgreSQL and auth on.
 *
 *   npx tsx bench/fast-paths.bench.ts [--builds 50] [--bytes 20971520] [--keep] [--no-readme]
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { buildBusyboxImage } from "@kiln/infra";
import { api } from "../test/support/kiln-services.js";
import {
  machineFacts,
  runBench,
  startBenchEnvironment,
  startBenchKiln,
  writeBenchResults,
  type BenchEnvironment,
} from "./support.js";

const { values: args } = parseArgs({
  options: {
    builds: { type: "string", default: "50" },
    bytes: { type: "string", default: String(20 * 1024 * 1024) },
    keep: { type: "boolean", default: false },
    "no-readme": { type: "boolean", default: false },
  },
});
const builds = Number(args.builds);
const bytes = Number(args.bytes);
const TARGET_P50_MS = 150;
const TARGET_RATIO = 5;

let env: BenchEnvironment | undefined;

async function main(): Promise<number> {
  env = await startBenchEnvironment("fast-paths", { keep: args.keep });
  const registry = env.servers.registry;
  const base = await buildBusyboxImage({
    storageDir: env.storageDir,
    ref: `${registry.address}/base/busybox:latest`,
    ...(registry.authFile ? { authFile: registry.authFile } : {}),
  });
  // Random bytes: an upload that does not compress, like most binaries.
  const upload = randomBytes(bytes);
  const results: Record<string, number[]> = {};
  for (const path of ["layer-append", "buildah"] as const) {
    const kiln = await startBenchKiln(env, {
      extraEnv: { BUILD_RUNNER_LAYER_APPEND: String(path === "layer-append") },
    });
    const call = api(kiln);
    const name = `bin-${path}`;
    const applied = await call("POST", "/apis/v1/apply", {
      items: [
        {
          apiVersion: "kiln.dev/v1",
          kind: "BuildConfig",
          metadata: { name },
          spec: {
            source: {
              type: "Binary",
              binary: { asFile: "app.bin" },
              dockerfile: `FROM ${base.ref}\nCOPY app.bin /app/\nCMD ["/app/app.bin"]\n`,
            },
            strategy: { type: "Docker" },
            output: {
              to: { kind: "DockerImage", name: `${registry.address}/default/${name}:latest` },
            },
          },
        },
      ],
    });
    if (applied.status !== 200) throw new Error(`apply: ${applied.text}`);
    const times: number[] = [];
    // One warm-up build: the runner's first pull of the base is not what is measured.
    for (let i = 0; i <= builds; i++) {
      const started = performance.now();
      const res = await fetch(
        `${kiln.apiUrl}/apis/v1/namespaces/default/buildconfigs/${name}/instantiatebinary?asFile=app.bin`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${kiln.token}`,
            "content-type": "application/octet-stream",
          },
          body: upload,
        },
      );
      if (res.status !== 201)
        throw new Error(`instantiatebinary: ${res.status} ${await res.text()}`);
      const build = ((await res.json()) as { metadata: { name: string } }).metadata.name;
      for (;;) {
        const got = await call("GET", `/apis/v1/namespaces/default/builds/${build}`);
        const phase = got.json?.status?.phase;
        if (phase === "Complete") break;
        if (["Failed", "Error", "Cancelled"].includes(phase)) {
          const log = await call("GET", `/apis/v1/namespaces/default/builds/${build}/log`);
          throw new Error(`${build} ${phase}\n${log.text}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      if (i > 0) times.push(performance.now() - started);
    }
    results[path] = times;
    await kiln.stop();
  }
  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  };
  const fast = results["layer-append"]!;
  const slow = results.buildah!;
  const ratio = pct(slow, 50) / pct(fast, 50);
  const row = (path: string, xs: number[]) =>
    `| ${path} | ${xs.length} | ${pct(xs, 50).toFixed(0)} | ${pct(xs, 99).toFixed(0)} |`;
  const table = [
    `${(bytes / 2 ** 20).toFixed(0)} MiB \`--from-file\` binary build, request → Complete (ms), one at a time, durable PostgreSQL, auth on:`,
    "",
    "| path | builds | p50 | p99 |",
    "| --- | --- | --- | --- |",
    row("layer-append", fast),
    row("buildah", slow),
    "",
    `layer-append p50 ${pct(fast, 50).toFixed(0)} ms (target < ${TARGET_P50_MS} ms): ${pct(fast, 50) < TARGET_P50_MS ? "met" : "NOT met"}; ${ratio.toFixed(1)}× faster than buildah (target ≥ ${TARGET_RATIO}×): ${ratio >= TARGET_RATIO ? "met" : "NOT met"}`,
  ].join("\n");
  console.log(table);
  const date = new Date().toISOString();
  await writeBenchResults({
    name: "fast-paths",
    title: "Fast paths: single builds",
    date,
    table,
    json: { machine: machineFacts(), bytes, builds, results },
    readme: !args["no-readme"],
  });
  return 0;
}

runBench(main, () => env?.cleanup());
