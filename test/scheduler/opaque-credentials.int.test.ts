import { applyResources, listBuilds } from "@kiln/db";
import { parseResources } from "@kiln/domain";
import { test } from "../support/scheduler-only.js";
import { expect } from "vitest";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a BuildConfig whose pull or push secret is an Opaque Secret fails its build MissingSecret, saying registry credentials need a docker config Secret, and dispatches nothing", async ({
  scheduling,
}) => {
  const { infra, db, bus, scheduler } = scheduling;
  const bc = (name: string, credentials: Record<string, unknown>) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: "file:///x" } },
      strategy: { type: "Docker", dockerStrategy: credentials.dockerStrategy ?? {} },
      output: {
        to: { kind: "ImageStreamTag", name: `${name}:latest` },
        ...(credentials.output ?? {}),
      },
    },
  });
  await applyResources(
    db.db,
    parseResources([
      // A webhook's Secret: applies fine, but holds no registry credentials.
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "hook" },
        stringData: { WebHookSecretKey: "a-webhook-secret-not-a-login" },
      },
      bc("pulls", { dockerStrategy: { pullSecret: { name: "hook" } } }),
      bc("pushes", { output: { pushSecret: { name: "hook" } } }),
    ]),
    infra.secrets,
  );
  await scheduler.start();
  for (const name of ["pulls", "pushes"]) {
    await bus.publish(
      "build.requested",
      name,
      {
        v: 1,
        requestId: name,
        namespace: "default",
        buildConfig: name,
        env: [],
        cause: { type: "Manual", message: "test" },
        requestedAt: new Date().toISOString(),
      },
      { msgId: name },
    );
  }
  const until = Date.now() + 20_000;
  let builds = await listBuilds(db.db, "default");
  while ((builds.length < 2 || builds.some((b) => b.phase !== "Failed")) && Date.now() < until) {
    await sleep(50);
    builds = await listBuilds(db.db, "default");
  }
  const byConfig = Object.fromEntries(builds.map((b) => [b.buildConfig, b]));
  expect(byConfig.pulls).toMatchObject({
    phase: "Failed",
    reason: "MissingSecret",
    message:
      "the pull secret default/hook is an Opaque Secret; registry credentials need a kubernetes.io/dockerconfigjson Secret",
  });
  expect(byConfig.pushes).toMatchObject({
    phase: "Failed",
    reason: "MissingSecret",
    message:
      "the push secret default/hook is an Opaque Secret; registry credentials need a kubernetes.io/dockerconfigjson Secret",
  });
  for (const b of builds) expect(await bus.count("build.dispatched", b.id)).toBe(0);
});
