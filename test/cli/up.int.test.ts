/**
 * `kiln up` as a user runs it: the real CLI, the real NATS, PostgreSQL and registry, and
 * stand-in services (KILN_SERVICES_DIR) that answer /healthz and tell whether the account
 * they were given gets into the registry. What is checked is what `up` leaves for the user:
 * the env file, whose REGISTRY_AUTH_FILE lets buildah and skopeo push and pull, and no file
 * that another local user could read a secret from.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, expect, test } from "vitest";
import { freePort, isPortFree, kilnServiceNames, removeBuildahStore } from "@kiln/infra";
import { buildahArgs } from "@kiln/testing";
import { repoRoot } from "../support/kiln-services.js";
import { listenVariables } from "../support/service-config.js";

const exec = promisify(execFile);

let up: ChildProcess | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up!.once("exit", r));
    up.kill("SIGINT");
    await exited;
  }
  up = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A service that answers /healthz, and /account: whether its KILN_REGISTRY_* account gets into KILN_REGISTRY. */
function stubService(portVariable: string): string {
  return `import { createServer } from "node:http";
const user = process.env.KILN_REGISTRY_USERNAME;
const password = process.env.KILN_REGISTRY_PASSWORD;
createServer(async (req, res) => {
  if (req.url === "/account") {
    if (user === undefined) return res.end(JSON.stringify({ account: false }));
    const v2 = await fetch("http://" + process.env.KILN_REGISTRY + "/v2/", {
      headers: { authorization: "Basic " + Buffer.from(user + ":" + password).toString("base64") },
    });
    return res.end(JSON.stringify({ account: true, status: v2.status }));
  }
  res.end("ok");
}).listen(Number(process.env.${portVariable}), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
`;
}

/** An api port whose eight neighbours (webhook aside, the health and metrics ports follow it) are free too. */
async function apiPortWithFreeNeighbours(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port > 65_000) continue;
    const free = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((d) => isPortFree(port + d)));
    if (free.every(Boolean)) return port;
  }
}

function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [key, ...rest] = line.split("=");
        return [key!, rest.join("=").replace(/^"(.*)"$/, "$1")];
      }),
  );
}

test("kiln up writes an owner-only env file whose REGISTRY_AUTH_FILE lets buildah and skopeo push to and pull from its registry, which refuses everyone else", async () => {
  const work = await mkdtemp(join(tmpdir(), "kiln-up-"));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  // As root, postgres runs as the postgres user and must pass through (mkdtemp makes 0700).
  await chmod(work, 0o711);
  const servicesDir = join(work, "services");
  for (const name of kilnServiceNames) {
    await mkdir(join(servicesDir, name, "src"), { recursive: true });
    await writeFile(
      join(servicesDir, name, "src", "main.ts"),
      stubService(listenVariables[name].port.at(-1)!),
    );
  }
  const stateDir = join(work, "state");
  const api = await apiPortWithFreeNeighbours();
  const ports = {
    nats: await freePort(),
    postgres: await freePort(),
    registry: await freePort(),
    webhook: await freePort(),
  };
  let output = "";
  up = spawn(
    process.execPath,
    [
      join(repoRoot, "packages", "cli", "bin", "kiln.mjs"),
      "up",
      "--state-dir",
      stateDir,
      "--nats-port",
      String(ports.nats),
      "--postgres-port",
      String(ports.postgres),
      "--registry-port",
      String(ports.registry),
      "--api-port",
      String(api),
      "--webhook-port",
      String(ports.webhook),
    ],
    { env: { ...process.env, KILN_SERVICES_DIR: servicesDir }, stdio: ["ignore", "pipe", "pipe"] },
  );
  up.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  await expect
    .poll(() => output.includes("Kiln is up.") || up?.exitCode !== null, {
      timeout: 120_000,
      interval: 250,
    })
    .toBe(true);
  expect(output).toContain("Kiln is up.");
  // The console's URL, and the api serves it there.
  const consoleUrl = `http://127.0.0.1:${api}/console/`;
  expect(output).toContain(`  console      ${consoleUrl} (log in with KILN_TOKEN`);
  expect((await fetch(consoleUrl)).status).toBe(200);

  const registry = `127.0.0.1:${ports.registry}`;
  const envFile = join(stateDir, "env");
  const env = parseEnvFile(await readFile(envFile, "utf8"));
  expect(env.KILN_REGISTRY).toBe(registry);
  expect(env.REGISTRY_AUTH_FILE).toBe(join(stateDir, "registry", "auth.json"));
  const password = (await readFile(join(stateDir, "registry", "password"), "utf8")).trim();
  expect(JSON.parse(await readFile(env.REGISTRY_AUTH_FILE!, "utf8"))).toEqual({
    auths: { [registry]: { auth: Buffer.from(`kiln:${password}`).toString("base64") } },
  });

  // Nothing that holds a secret is readable by another local user.
  const mode = async (path: string) => (await stat(path)).mode & 0o777;
  for (const file of [
    "env",
    "token",
    "registry/auth.json",
    "registry/password",
    "registry/htpasswd",
    "registry/config.yml",
    "logs/registry.log",
  ])
    expect(await mode(join(stateDir, file)), file).toBe(0o600);
  expect(await mode(join(stateDir, "registry"))).toBe(0o700);

  // The build-runner and the image-watcher got an account the registry lets in; nobody else got one.
  const account = async (port: number) =>
    (await (await fetch(`http://127.0.0.1:${port}/account`)).json()) as Record<string, unknown>;
  expect(await account(api + 3)).toEqual({ account: true, status: 200 }); // build-runner
  expect(await account(api + 4)).toEqual({ account: true, status: 200 }); // image-watcher
  for (const port of [api, api + 2, api + 5, ports.webhook])
    expect(await account(port)).toEqual({ account: false });

  // A user's own image, pushed and pulled the way the README says: source the env file.
  const storageDir = join(work, "buildah");
  cleanups.push(() => removeBuildahStore(storageDir));
  const buildah = buildahArgs(storageDir);
  const ctr = (await exec("buildah", [...buildah, "from", "scratch"])).stdout.trim();
  await exec("buildah", [...buildah, "config", "--label", "made=by-hand", ctr]);
  await exec("buildah", [...buildah, "commit", "--quiet", ctr, "localhost/by-hand:v1"]);
  const sourced = (command: string) =>
    exec("sh", ["-c", `set -a; . "${envFile}"; set +a; ${command}`]).then(
      (r) => ({ ok: true, stderr: r.stderr }),
      (e: { stderr: string }) => ({ ok: false, stderr: e.stderr }),
    );
  const bare = (command: string) =>
    exec("sh", ["-c", command], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }).then(
      (r) => ({ ok: true, stderr: r.stderr }),
      (e: { stderr: string }) => ({ ok: false, stderr: e.stderr }),
    );
  const push = `buildah ${buildah.join(" ")} push --tls-verify=false localhost/by-hand:v1 docker://${registry}/mine/by-hand:v1`;
  const inspect = `skopeo inspect --tls-verify=false docker://${registry}/mine/by-hand:v1`;

  const refused = await bare(push);
  expect(refused.ok).toBe(false);
  expect(refused.stderr).toContain(`${registry}/mine/by-hand: unauthorized`);
  expect(await sourced(push)).toMatchObject({ ok: true });
  expect(await sourced(inspect)).toMatchObject({ ok: true });
  const anonymousPull = await bare(inspect);
  expect(anonymousPull.ok).toBe(false);
  expect(anonymousPull.stderr).toMatch(/unauthorized|authentication required/);

  // Ctrl-C stops it all.
  const exited = new Promise<number | null>((r) => up!.once("exit", (code) => r(code)));
  up.kill("SIGINT");
  expect(await exited).toBe(0);
  expect(await isPortFree(ports.registry)).toBe(true);
});
