/**
 * Kiln's Prometheus metrics as an operator gets them: a real Prometheus (Debian's package, on
 * loopback, its storage in a temporary directory) scrapes all six real services, started as
 * `kiln up` starts them, while builds run; the test asks Prometheus's HTTP API, not the services.
 */
import { afterEach, expect } from "vitest";
import { integrationTest as test, makeGitRepo } from "@kiln/testing";
import { kilnServiceNames } from "@kiln/infra";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { startPrometheus, type PromSample, type RunningPrometheus } from "../support/prometheus.js";

let running: RunningKiln | undefined;
let prometheus: RunningPrometheus | undefined;
afterEach(async () => {
  await prometheus?.stop();
  prometheus = undefined;
  await running?.stop();
  running = undefined;
});

function dockerBuildConfig(name: string, gitUri: string) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: gitUri, ref: "main" } },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
    },
  };
}

const total = (samples: PromSample[]) => samples.reduce((sum, s) => sum + s.value, 0);

test("Prometheus scrapes every service and counts a build once, by namespace, strategy, phase and reason", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  await using good = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN echo ok > /ok.txt\n`,
  });
  await using bad = await makeGitRepo({
    Dockerfile: `FROM ${baseImage.ref}\nRUN exit 3\n`,
  });
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: [...kilnServiceNames],
  });
  prometheus = await startPrometheus(running.metricsUrls);

  // Every service is a target Prometheus can scrape, with its process metrics.
  const up = await prometheus.waitFor(
    "up",
    (s) => s.length === kilnServiceNames.length && s.every((x) => x.value === 1),
  );
  expect(up.map((s) => s.metric.job).sort()).toEqual([...kilnServiceNames].sort());
  const cpu = await prometheus.query("process_cpu_user_seconds_total");
  expect(cpu.map((s) => s.metric.job).sort()).toEqual([...kilnServiceNames].sort());

  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [dockerBuildConfig("good", good.url), dockerBuildConfig("bad", bad.url)],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/good/instantiate", {});
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/bad/instantiate", {});
  await waitForBuild(call, "good-1", (p) => p === "Complete");
  const failed = await waitForBuild(call, "bad-1", (p) => p === "Failed");
  expect(failed.status.reason).toBe("DockerBuildFailed");

  // Each build once, counted by the scheduler alone (a service that only saw the build adds nothing).
  const builds = await prometheus.waitFor("kiln_builds_total", (s) => total(s) >= 2);
  expect(
    builds.map(({ metric, value }) => ({
      job: metric.job,
      namespace: metric.namespace,
      strategy: metric.strategy,
      phase: metric.phase,
      reason: metric.reason ?? "",
      value,
    })),
  ).toEqual(
    expect.arrayContaining([
      {
        job: "scheduler",
        namespace: "default",
        strategy: "Docker",
        phase: "Complete",
        reason: "",
        value: 1,
      },
      {
        job: "scheduler",
        namespace: "default",
        strategy: "Docker",
        phase: "Failed",
        reason: "DockerBuildFailed",
        value: 1,
      },
    ]),
  );
  expect(builds).toHaveLength(2);
  // No label names a build.
  for (const sample of builds)
    expect(Object.values(sample.metric).join(" ")).not.toMatch(/good-1|bad-1/);

  // Both ran: their durations, waits and steps were observed where each is seen.
  const durations = await prometheus.query("sum(kiln_build_duration_seconds_count)");
  expect(total(durations)).toBe(2);
  const waits = await prometheus.query("kiln_build_queue_wait_seconds_count");
  expect(total(waits)).toBe(2);
  const steps = await prometheus.waitFor(
    'kiln_build_step_duration_seconds_count{step="Build"}',
    (s) => total(s) === 2,
  );
  expect(steps.map((s) => s.metric.job)).toEqual(["build-runner"]);

  // The good build's output moved its tag: one image change, counted by the image-watcher.
  const changes = await prometheus.waitFor("kiln_image_changes_total", (s) => total(s) >= 1);
  expect(changes.map(({ metric, value }) => ({ ...metric, value }))).toEqual([
    expect.objectContaining({
      job: "image-watcher",
      namespace: "default",
      cause: "Build",
      value: 1,
    }),
  ]);

  // Nothing waits in the scheduler's consumers once the builds are recorded.
  const lag = await prometheus.waitFor(
    'kiln_consumer_pending_messages{consumer="scheduler-build-status"}',
    (s) => s.length === 1 && s[0]!.value === 0,
  );
  expect(lag[0]!.metric.job).toBe("scheduler");
});

test("a refused webhook is counted, and the ports the world reaches serve no metrics", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "webhook-receiver"],
  });
  // Made up: no such BuildConfig, so the sender gets the same 401 as for a wrong secret.
  const refused = await fetch(`${running.webhookUrl}/hooks/default/made-up/generic`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-kiln-webhook-secret": "guess" },
    body: JSON.stringify({ git: { uri: "https://example.com/x.git", ref: "main" } }),
  });
  expect(refused.status).toBe(401);

  const metrics = await (await fetch(running.metricsUrls["webhook-receiver"])).text();
  expect(metrics).toContain(
    'kiln_webhook_deliveries_total{provider="generic",outcome="rejected"} 1',
  );
  // An attacker on the webhook port, or on the api's without a token, reads nothing of it.
  const onWebhookPort = await fetch(`${running.webhookUrl}/metrics`);
  expect(onWebhookPort.status).toBe(404);
  expect(await onWebhookPort.text()).not.toContain("kiln_");
  const onApiPort = await fetch(`${running.apiUrl}/metrics`);
  expect(onApiPort.status).not.toBe(200);
  expect(await onApiPort.text()).not.toContain("kiln_");
});
