/**
 * The issue's own case, end to end with Kiln's real processes and the real `kiln` CLI: a
 * BuildConfig of team-b must not move `default/hello:latest` unless default grants it, and a
 * grant revoked later stops the next build. The tokens of `kiln create token` never reach a log.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { integrationTest as test } from "@kiln/testing";
import { api, startKiln, type RunningKiln } from "../support/kiln-services.js";
import { kiln } from "../support/cli.js";

let running: RunningKiln | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** A Docker build writing `who` into the image, pushing to `to` (`[ns/]is:tag`). */
function buildConfig(namespace: string, name: string, baseImage: string, to: string) {
  const [toNs, toName] = to.includes("/") ? to.split("/") : [undefined, to];
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace },
    spec: {
      source: { dockerfile: `FROM ${baseImage}\nRUN echo ${namespace} > /who\n` },
      strategy: { type: "Docker" },
      output: {
        to: { kind: "ImageStreamTag", name: toName, ...(toNs ? { namespace: toNs } : {}) },
      },
    },
  };
}

test("team-b moves default/hello:latest only while default grants it push", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
  });
  scratch = await mkdtemp(join(tmpdir(), "kiln-tenants-"));
  const call = api(running);
  const file = async (name: string, doc: unknown) => {
    const path = join(scratch!, name);
    await writeFile(path, JSON.stringify(doc));
    return path;
  };
  const hello = async () => {
    const res = await call("GET", "/apis/v1/namespaces/default/imagestreams/hello");
    return res.json.status.tags.find((t: any) => t.tag === "latest").items[0].image as string;
  };

  // The bootstrap token (what `kiln up` writes) builds default/hello:latest.
  const bootstrap = running.cliEnv;
  expect(
    (
      await kiln(
        bootstrap,
        "apply",
        "-f",
        await file("hello.json", buildConfig("default", "hello", baseImage.ref, "hello:latest")),
      )
    ).code,
  ).toBe(0);
  expect((await kiln(bootstrap, "start-build", "hello", "--wait")).code).toBe(0);
  const original = await hello();

  const created = async (name: string, ns: string, role: string) => {
    const res = await kiln(bootstrap, "create", "token", name, "-n", ns, "--role", role);
    expect(res.code).toBe(0);
    return res.stdout.trim();
  };
  const teamBToken = await created("team-b-ci", "team-b", "edit");
  const leadToken = await created("default-lead", "default", "admin");
  const teamB = { ...bootstrap, KILN_TOKEN: teamBToken, KILN_NAMESPACE: "team-b" };
  const lead = { ...bootstrap, KILN_TOKEN: leadToken };

  const app = await file(
    "app.json",
    buildConfig("team-b", "app", baseImage.ref, "default/hello:latest"),
  );
  const refused = await kiln(teamB, "apply", "-f", app);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(
    "error: BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): no ImageStreamGrant in namespace default gives namespace team-b push",
  );
  expect((await call("GET", "/apis/v1/namespaces/team-b/buildconfigs/app")).status).toBe(404);

  const grant = await file("grant.json", {
    apiVersion: "kiln.dev/v1",
    kind: "ImageStreamGrant",
    metadata: { name: "team-b-builds", namespace: "default" },
    spec: { grantee: { namespace: "team-b" }, access: ["push"], imageStreams: ["hello"] },
  });
  // team-b may not grant itself default's images; default's admin may.
  expect((await kiln(teamB, "apply", "-f", grant)).stderr).toContain(
    'error: token "team-b-ci" may not edit ImageStreamGrants in namespace default (no role there)',
  );
  expect((await kiln(lead, "apply", "-f", grant)).code).toBe(0);
  expect((await kiln(teamB, "apply", "-f", app)).code).toBe(0);
  const built = await kiln(teamB, "start-build", "app", "--wait");
  expect(built.stderr).toBe("");
  expect(built.code).toBe(0);
  const pushed = (await call("GET", "/apis/v1/namespaces/team-b/builds/app-1")).json.status.output
    .digest;
  for (let i = 0; (await hello()) !== pushed; i++) {
    if (i > 100) throw new Error("default/hello:latest never moved to team-b's image");
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(pushed).not.toBe(original);

  expect((await kiln(lead, "delete", "isgrant", "team-b-builds")).code).toBe(0);
  const denied = await kiln(teamB, "start-build", "app", "--wait");
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toContain(
    "build app-2 ended Failed (ImageAccessDenied): BuildConfig team-b/app may not push to ImageStream default/hello",
  );
  expect(await hello()).toBe(pushed);

  // No token of `kiln create token`, nor the bootstrap one, is in any service's log.
  const logs = (
    await Promise.all(
      (await readdir(running.logsDir)).map((f) => readFile(join(running!.logsDir, f), "utf8")),
    )
  ).join("");
  expect(logs).toContain("token created");
  for (const secret of [teamBToken, leadToken, running.token])
    expect(logs).not.toContain(secret.replace(/^kiln_/, ""));
});
