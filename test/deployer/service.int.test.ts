// The deployer as a real process (services/deployer/src/main.ts, started as `kiln up` starts it),
// with the api and the real `kiln` CLI, against real NATS and Postgres. Its Kubernetes API is the
// STAND-IN of @kiln/testing (a KUBECONFIG pointing at it), not Kubernetes: no cluster can be had
// on the build machines.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Bus } from "@kiln/bus";
import { createDatabase } from "@kiln/db";
import { TagRecorder } from "@kiln/image-tags";
import { createLogger } from "@kiln/runtime";
import { enableRolloutController, integrationTest as test, StandInApiServer } from "@kiln/testing";
import { expect } from "vitest";
import { kiln } from "../support/cli.js";
import { startKiln } from "../support/kiln-services.js";
import { containerPath, deployment, digestOf, referenceOf, triggers, until } from "./support.js";

const logger = createLogger({ service: "deployer-service-test", level: "silent" });
const secret = "another-long-webhook-secret";

test("the deployer process rolls a workload through a kubeconfig, and `kiln get deploys` lists it", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  await using kube = await StandInApiServer.start({ token: "stand-in-bearer-token" });
  enableRolloutController(kube);
  kube.create(
    deployment("web", {
      annotation: triggers({ tag: "app:latest", fieldPath: containerPath("web") }),
    }),
  );
  const kubeconfig = await kube.writeKubeconfig(join(infra.workDir, `kubeconfig-${subjectPrefix}`));
  const running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    buildahStorageDir: join(infra.workDir, "unused-buildah"),
    services: ["deployer", "api"],
    extraEnv: {
      KUBECONFIG: kubeconfig,
      DEPLOYER_NAMESPACES: "apps",
      DEPLOYER_ROLLOUT_DEADLINE_MS: "20000",
    },
  });
  const db = createDatabase(database.url);
  const bus = await Bus.connect({
    servers: infra.natsUrl,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    prefix: subjectPrefix,
    name: "deployer-service-test",
    logger,
  });
  try {
    const ref = referenceOf("apps", "app", digestOf(31));
    await new TagRecorder({ db: db.db, bus, logger }).record({
      namespace: "apps",
      imageStream: "app",
      tag: "latest",
      digest: digestOf(31),
      imageReference: ref,
      cause: { type: "Build", build: "app-4" },
    });
    await until(
      () =>
        (
          kube.get("Deployment", "apps", "web") as
            { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined
        )?.spec.template.spec.containers[0]?.image === ref,
      "the patch",
    );

    const listed = await until(async () => {
      const out = await kiln(running.cliEnv, "get", "deploys", "-n", "apps");
      return out.stdout.includes("Complete") ? out : undefined;
    }, "kiln get deploys to show the deploy Complete");
    expect(listed.code).toBe(0);
    const [header, row] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+TARGET\s+IMAGE\s+STATUS\s+CAUSE\s+CREATED\s+DURATION$/);
    expect(row).toMatch(
      new RegExp(
        `^[0-9a-f]{8}\\s+Deployment/apps/web\\s+app:latest@${digestOf(31).slice(0, 19)}\\s+Complete\\s+Build app-4\\s`,
      ),
    );
    const json = JSON.parse(
      (await kiln(running.cliEnv, "get", "deploys", "-n", "apps", "-o", "json")).stdout,
    ) as { items: { kind: string; spec: unknown; status: unknown }[] };
    expect(json.items).toEqual([
      expect.objectContaining({
        kind: "Deploy",
        spec: expect.objectContaining({
          target: {
            type: "Kubernetes",
            kind: "Deployment",
            namespace: "apps",
            name: "web",
            containers: ["web"],
          },
          imageReference: ref,
        }),
        status: expect.objectContaining({ phase: "Complete", attempts: 1 }),
      }),
    ]);
    // Every request carried the kubeconfig's bearer token (the stand-in answers 401 otherwise).
    expect(kube.requests.every((r) => r.status !== 401)).toBe(true);
  } finally {
    await bus.drain();
    await db.close();
    await running.stop();
  }
});

test("without a cluster the deployer starts, says Kubernetes is off, and still POSTs to its HTTP targets", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const received: { signature: string | undefined; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({ signature: req.headers["x-kiln-signature-256"] as string | undefined, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/deploy`;
  const running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    buildahStorageDir: join(infra.workDir, "unused-buildah"),
    services: ["deployer"],
    extraEnv: {
      KUBECONFIG: "",
      KUBERNETES_SERVICE_HOST: "",
      DEPLOYER_HTTP_TARGETS: url,
      DEPLOYER_HTTP_SECRET: secret,
    },
  });
  const db = createDatabase(database.url);
  const bus = await Bus.connect({
    servers: infra.natsUrl,
    identity: { role: "admin", nkeySeed: infra.busCredentials.admin },
    prefix: subjectPrefix,
    name: "deployer-service-test",
    logger,
  });
  try {
    await new TagRecorder({ db: db.db, bus, logger }).record({
      namespace: "default",
      imageStream: "site",
      tag: "prod",
      digest: digestOf(32),
      imageReference: referenceOf("default", "site", digestOf(32)),
      cause: { type: "Tag" },
    });
    await until(() => received.length === 1, "the POST");
    expect(JSON.parse(received[0]!.body)).toMatchObject({
      kind: "ImageChange",
      imageStreamTag: "default/site:prod",
      digest: digestOf(32),
    });
    expect(received[0]!.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    // The deployer counts the deploy's phases as it commits them, on its health port's /metrics.
    const deploys = await until(async () => {
      const text = await (await fetch(running.metricsUrls.deployer)).text();
      const lines = text.split("\n").filter((l) => l.startsWith("kiln_deploys_total{"));
      return lines.some((l) => l.includes('phase="Complete"')) && lines;
    }, "the deploy counted");
    expect(deploys).toContain(
      'kiln_deploys_total{namespace="default",target="HTTP",phase="Complete"} 1',
    );
    expect(deploys.filter((l) => !l.includes('target="HTTP"'))).toEqual([]);
    const log = await readFile(join(running.logsDir, "deployer.log"), "utf8");
    const off = log.split("\n").filter((l) => l.includes("kubernetes deploys off"));
    expect(off).toHaveLength(1);
    expect(log).not.toContain(secret);
  } finally {
    await bus.drain();
    await db.close();
    await running.stop();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
