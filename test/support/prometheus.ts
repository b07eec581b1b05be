import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ManagedProcess } from "@kiln/infra";
import { stringify } from "yaml";

/** Debian's `prometheus` package (scripts/bootstrap installs it). */
const prometheusBinary = "/usr/bin/prometheus";

/** One series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  url: string;
  /** An instant query through the HTTP API (`/api/v1/query`). */
  query(promql: string): Promise<PromSample[]>;
  /** Queries until `done` holds of the answer (scrapes come every second), or throws with the last one. */
  waitFor(
    promql: string,
    done: (samples: PromSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  /** Stops Prometheus and removes its storage and config. */
  stop(): Promise<void>;
}

/**
 * A real Prometheus on loopback, scraping each `targets` URL (`http://host:port/metrics`) every
 * second as job `<name>`, with its TSDB in a temporary directory removed by `stop()`.
 */
export async function startPrometheus(targets: Record<string, string>): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-prometheus-"));
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    scrape_configs: Object.entries(targets).map(([job, target]) => {
      const url = new URL(target);
      return {
        job_name: job,
        metrics_path: url.pathname,
        static_configs: [{ targets: [url.host] }],
      };
    }),
  };
  await writeFile(join(dir, "prometheus.yml"), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dir, "prometheus.log");
  const proc = new ManagedProcess({
    name: "prometheus",
    command: prometheusBinary,
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // No console templates or libraries from /etc: nothing of the machine's own Prometheus.
      `--web.console.templates=${join(dir, "consoles")}`,
      `--web.console.libraries=${join(dir, "console_libraries")}`,
    ],
    logFile,
  });
  await proc.start();
  const stop = async () => {
    await proc.stop({ timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!proc.running)
        throw new Error(`prometheus exited while starting:\n${await readFile(logFile, "utf8")}`);
      const ready = await fetch(`${url}/-/ready`).catch(() => null);
      if (ready?.ok) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready at ${url} within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const query = async (promql: string): Promise<PromSample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success") throw new Error(`query ${promql}: ${body.error ?? res.status}`);
    return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    async waitFor(promql, done, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const samples = await query(promql);
        if (done(samples)) return samples;
        if (Date.now() > deadline)
          throw new Error(`${promql} still ${JSON.stringify(samples)} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    stop,
  };
}
