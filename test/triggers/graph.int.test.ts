import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { integrationTest as test } from "@kiln/testing";
import { afterEach, expect } from "vitest";
import { api, repoRoot, startKiln, type RunningKiln } from "../support/kiln-services.js";

const exec = promisify(execFile);
let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const bc = (name: string, inputs: string[], output: string) => ({
  apiVersion: "kiln.dev/v1",
  kind: "BuildConfig",
  metadata: { name },
  spec: {
    source: { git: { uri: "file:///x" } },
    strategy: { type: "Docker" },
    output: { to: { kind: "ImageStreamTag", name: output } },
    triggers: inputs.map((i) => ({
      type: "ImageChange",
      imageChange: { from: { kind: "ImageStreamTag", name: i } },
    })),
  },
});

test("a rebuild cycle is refused at apply with the cycle named; kiln graph and kiln impact show the chain", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix, services: ["api"] });
  const call = api(running);
  expect(
    (
      await call("POST", "/apis/v1/apply", {
        items: [
          bc("s2i", ["base:latest"], "app-s2i:latest"),
          bc("tools", ["base:latest"], "tools:latest"),
          bc("runtime", ["app-s2i:latest", "tools:latest"], "app:latest"),
        ],
      })
    ).status,
  ).toBe(200);
  // Making base follow app would close the loop base → s2i → runtime → base.
  const cyclic = await call("POST", "/apis/v1/apply", {
    items: [bc("base", ["app:latest"], "base:latest")],
  });
  expect(cyclic.status).toBe(400);
  expect(cyclic.json.details).toEqual([
    {
      path: "items[0].spec.triggers",
      message:
        "would make a rebuild cycle: default/base → default/s2i → default/runtime → default/base",
    },
  ]);
  expect((await call("GET", "/apis/v1/namespaces/default/buildconfigs/base")).status).toBe(404);

  const kiln = (...args: string[]) =>
    exec(process.execPath, [join(repoRoot, "packages/cli/bin/kiln.mjs"), ...args], {
      env: { ...process.env, ...running!.cliEnv },
    });
  const impact = await kiln("impact", "is/base:latest");
  expect(impact.stdout).toBe(
    "a change of default/base:latest rebuilds, in order:\n  1. default/s2i\n  2. default/tools\n  3. default/runtime\n",
  );
  const graph = await kiln("graph");
  expect(graph.stdout).toContain(
    "default/s2i\n  follows:   default/base:latest\n  pushes:    default/app-s2i:latest\n  rebuilds:  default/runtime\n",
  );
});
