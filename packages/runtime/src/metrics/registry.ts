import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * One registry per process, with Node's process metrics (CPU, memory, event-loop lag, GC,
 * handles) under `process_` and `nodejs_`. Prometheus adds `job` and `instance` itself, so no
 * service label is set here: every Kiln metric is counted by exactly one service (see
 * docs/metrics.md), and a query never needs one.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export type { Registry as MetricsRegistry } from "prom-client";
