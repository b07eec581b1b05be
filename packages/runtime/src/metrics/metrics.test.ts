import { describe, expect, it } from "vitest";
import { ServiceHealth } from "../health.js";
import { HealthServer } from "../health-server.js";
import { BuildMetrics, StepMetrics } from "./builds.js";
import { ConsumerLag } from "./consumer-lag.js";
import { DeployMetrics, ImageMetrics, WebhookMetrics } from "./events.js";
import { createMetricsRegistry } from "./registry.js";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe("BuildMetrics", () => {
  it("counts a terminal build under its namespace, strategy, phase and reason, and times it", async () => {
    const registry = createMetricsRegistry();
    const metrics = new BuildMetrics(registry);
    const build = {
      namespace: "team-a",
      strategy: "Docker",
      createdAt: at(0),
      startedAt: at(2),
      completedAt: null,
    };
    metrics.started({ ...build, phase: "Running", reason: null });
    metrics.ended({ ...build, phase: "Failed", reason: "DockerBuildFailed", completedAt: at(42) });
    const text = await registry.metrics();
    expect(text).toContain(
      'kiln_builds_total{namespace="team-a",strategy="Docker",phase="Failed",reason="DockerBuildFailed"} 1',
    );
    expect(text).toContain('kiln_build_duration_seconds_sum{strategy="Docker",phase="Failed"} 40');
    expect(text).toContain(
      'kiln_build_duration_seconds_bucket{le="30",strategy="Docker",phase="Failed"} 0',
    );
    expect(text).toContain(
      'kiln_build_duration_seconds_bucket{le="60",strategy="Docker",phase="Failed"} 1',
    );
    expect(text).toContain('kiln_build_queue_wait_seconds_sum{strategy="Docker"} 2');
    // Process metrics come with every registry.
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  it("counts a build that never ran without a duration", async () => {
    const registry = createMetricsRegistry();
    new BuildMetrics(registry).ended({
      namespace: "team-a",
      strategy: "Source",
      phase: "Cancelled",
      reason: "CancelledBuild",
      createdAt: at(0),
      startedAt: null,
      completedAt: at(1),
    });
    const text = await registry.metrics();
    expect(text).toContain('phase="Cancelled",reason="CancelledBuild"} 1');
    expect(text).not.toContain("kiln_build_duration_seconds_count{");
  });

  it("times steps by their name only", async () => {
    const registry = createMetricsRegistry();
    new StepMetrics(registry).stepEnded("Push", 3.5);
    expect(await registry.metrics()).toContain(
      'kiln_build_step_duration_seconds_sum{step="Push"} 3.5',
    );
  });
});

describe("event counters", () => {
  it("count webhook deliveries, image changes and deploy phases under their bounded labels", async () => {
    const registry = createMetricsRegistry();
    const webhooks = new WebhookMetrics(registry);
    webhooks.delivered("github", "build-requested");
    webhooks.delivered("github", "build-requested");
    webhooks.delivered("gitlab", "rejected");
    new ImageMetrics(registry).changed("team-a", "Build");
    const deploys = new DeployMetrics(registry);
    deploys.entered("team-a", "Deployment", "Rolling");
    deploys.entered("team-a", "Deployment", "Complete");
    const text = await registry.metrics();
    expect(text).toContain("# TYPE kiln_webhook_deliveries_total counter");
    expect(text).toContain(
      'kiln_webhook_deliveries_total{provider="github",outcome="build-requested"} 2',
    );
    expect(text).toContain('kiln_webhook_deliveries_total{provider="gitlab",outcome="rejected"} 1');
    expect(text).toContain('kiln_image_changes_total{namespace="team-a",cause="Build"} 1');
    expect(text).toContain(
      'kiln_deploys_total{namespace="team-a",target="Deployment",phase="Complete"} 1',
    );
  });
});

describe("ConsumerLag", () => {
  it("shows each consumer's backlog", async () => {
    const registry = createMetricsRegistry();
    new ConsumerLag({ registry, read: async () => ({ "scheduler-build-status": 7 }) });
    expect(await registry.metrics()).toContain(
      'kiln_consumer_pending_messages{consumer="scheduler-build-status"} 7',
    );
  });

  it("does not hold a scrape for a NATS that does not answer, and shows the last reading", async () => {
    const registry = createMetricsRegistry();
    let answer: (values: Record<string, number>) => void = () => {};
    let reads = 0;
    const lag = new ConsumerLag({
      registry,
      maxAgeMs: 0,
      timeoutMs: 50,
      read: () => {
        reads += 1;
        return reads === 1
          ? Promise.resolve({ c: 3 })
          : new Promise((resolve) => {
              answer = resolve;
            });
      },
    });
    expect(await lag.current()).toEqual({ c: 3 });
    const started = Date.now();
    const [first, second] = await Promise.all([lag.current(), lag.current()]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(first).toEqual({ c: 3 });
    expect(second).toEqual({ c: 3 });
    // Both scrapes shared the one reading still under way.
    expect(reads).toBe(2);
    // The late answer is the next scrape's reading, even while the one after it hangs.
    answer({ c: 9 });
    await new Promise((r) => setTimeout(r, 0));
    expect(await lag.current()).toEqual({ c: 9 });
  });

  it("keeps the last reading when a reading fails", async () => {
    const registry = createMetricsRegistry();
    let fail = false;
    const lag = new ConsumerLag({
      registry,
      maxAgeMs: 0,
      read: async () => {
        if (fail) throw new Error("nats: disconnected");
        return { c: 1 };
      },
    });
    await lag.current();
    fail = true;
    expect(await lag.current()).toEqual({ c: 1 });
  });
});

describe("HealthServer /metrics", () => {
  const health = new ServiceHealth({ live: {}, ready: {} });

  it("serves the registry in Prometheus's text format", async () => {
    const registry = createMetricsRegistry();
    new StepMetrics(registry).stepEnded("Build", 1);
    const server = new HealthServer({ port: 0, health, metrics: registry });
    const port = await server.start();
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      const text = await res.text();
      expect(text).toContain("# TYPE kiln_build_step_duration_seconds histogram");
      expect(text).toContain('kiln_build_step_duration_seconds_count{step="Build"} 1');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("has no /metrics without a registry", async () => {
    const server = new HealthServer({ port: 0, health });
    const port = await server.start();
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
