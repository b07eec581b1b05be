import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, readdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, expect } from "vitest";
import { buildBusyboxImage } from "@kiln/infra";
import { integrationTest as test, type BaseImage, type WorkerInfra } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";
import { buildUser } from "../support/build-user.js";
import { externalAddress } from "../support/network.js";

// What a hostile build step gets. Every attack is a real build whose RUN step, as root in the
// build, runs test/isolation/escape.c against this host; the test then looks at the host (the
// target directory, the signalled processes, the listeners, the loaded modules), not at what
// the build says about itself.

const exec = promisify(execFile);
const escapeSource = fileURLToPath(new URL("./escape.c", import.meta.url));

let running: RunningKiln | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await running?.stop();
  running = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The attack program, static, in an image with busybox: built once per worker. */
let escapeImage: Promise<string> | undefined;
function escapeImageOf(infra: WorkerInfra, baseImage: BaseImage): Promise<string> {
  escapeImage ??= (async () => {
    const binary = join(infra.workDir, "escape");
    await exec("gcc", ["-static", "-O1", "-o", binary, escapeSource]);
    const image = await buildBusyboxImage({
      storageDir: baseImage.storageDir,
      authFile: baseImage.authFile,
      ref: `${infra.registry.address}/isolation/escape:latest`,
      hostFiles: { "/escape": binary },
    });
    return image.ref;
  })();
  return escapeImage;
}

/** A TCP listener that records every connection and what it was sent. */
async function listener(
  host: string,
): Promise<{ port: number; connections: number; received: string[]; server: Server }> {
  const state = { port: 0, connections: 0, received: [] as string[], server: createServer() };
  state.server.on("connection", (socket) => {
    state.connections += 1;
    let data = "";
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("close", () => state.received.push(data));
  });
  await new Promise<void>((resolve) => state.server.listen(0, host, resolve));
  state.port = (state.server.address() as { port: number }).port;
  cleanups.push(() => new Promise((resolve) => state.server.close(resolve)));
  return state;
}

/** A process of the build user's own uid: only the PID namespace keeps a build step from it. */
function sentinelProcess(user: { uid: number; gid: number }): ChildProcess {
  const child = spawn("sleep", ["600"], { ...user, stdio: "ignore" });
  cleanups.push(() => child.kill("SIGKILL"));
  return child;
}

const alive = (pid: number | undefined) => {
  try {
    return pid !== undefined && process.kill(pid, 0);
  } catch {
    return false;
  }
};

/** The host's root device and file system type, from the kernel's own mount table. */
async function hostRootDevice(): Promise<{ major: string; minor: string; fstype: string }> {
  const root = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .find((l) => l.split(" ")[4] === "/");
  const fields = root?.split(" ") ?? [];
  const [major = "0", minor = "0"] = (fields[2] ?? "0:0").split(":");
  return { major, minor, fstype: fields[fields.indexOf("-") + 1] ?? "ext4" };
}

function attackBuildConfig(name: string, image: string, args: readonly (string | number)[]) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: {
        dockerfile: `FROM ${image}\nRUN ${JSON.stringify(["/escape", ...args.map(String)])}\n`,
      },
      strategy: { type: "Docker" },
    },
  };
}

test("build steps that try to leave their namespaces fail with their own error, and nothing on the host changes", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const image = await escapeImageOf(infra, baseImage);
  const user = await buildUser();
  // Writable by the build user on the host: only the build's own root keeps it out.
  const target = join(infra.workDir, `escape-target-${subjectPrefix}`);
  await mkdir(target);
  await chmod(target, 0o1777);
  const sentinel = sentinelProcess(user);
  const loopback = await listener("127.0.0.1");
  const outside = await listener(externalAddress());
  const root = await hostRootDevice();
  const modulesBefore = await readFile("/proc/modules", "utf8").catch(() => "");
  const natsPort = new URL(infra.natsUrl).port;
  const postgresPort = new URL(infra.databaseUrl).port;

  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "6" },
  });
  const runnerPid = running.processes.get("build-runner")?.pid;
  const attacks: Record<string, readonly (string | number)[]> = {
    chroot: ["chroot", join(target, "chroot")],
    "proc-root": ["proc-root", join(target, "proc-root")],
    mount: ["mount", root.major, root.minor, root.fstype],
    "kill-sentinel": ["kill", sentinel.pid ?? 0],
    "kill-runner": ["kill", runnerPid ?? 0],
    nats: ["connect", "127.0.0.1", natsPort],
    postgres: ["connect", "127.0.0.1", postgresPort],
    loopback: ["connect", "127.0.0.1", loopback.port],
    // slirp4netns's address for the host's loopback, closed by --disable-host-loopback.
    gateway: ["connect", "10.0.2.2", loopback.port],
    module: ["module", "/escape"],
  };
  const call = api(running);
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      ...Object.entries(attacks).map(([name, args]) => attackBuildConfig(name, image, args)),
      // The control: the same step reaches the network outside, so the refusals above are the
      // isolation's and not a build without any network.
      attackBuildConfig("egress", image, ["connect", externalAddress(), outside.port, "beacon"]),
    ],
  });
  expect(applied.status).toBe(200);
  const names = [...Object.keys(attacks), "egress"];
  for (const name of names)
    expect(
      (await call("POST", `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`, {}))
        .status,
    ).toBe(201);
  const builds = Object.fromEntries(
    await Promise.all(
      names.map(async (name) => [name, await waitForBuild(call, `${name}-1`, finished)] as const),
    ),
  );

  for (const name of Object.keys(attacks)) {
    expect({ name, phase: builds[name].status.phase, reason: builds[name].status.reason }).toEqual({
      name,
      phase: "Failed",
      reason: "DockerBuildFailed",
    });
    const log = await call("GET", `/apis/v1/namespaces/default/builds/${name}-1/log`);
    expect(log.text).toMatch(/escape: .* refused: /);
    expect(log.text).not.toContain("GOT THROUGH");
  }
  expect(builds.egress.status.phase).toBe("Complete");
  expect(outside.received).toContain("beacon");

  // The host, as it was.
  expect(await readdir(target)).toEqual([]);
  expect(alive(sentinel.pid)).toBe(true);
  expect(running.processes.get("build-runner")?.running).toBe(true);
  expect(loopback.connections).toBe(0);
  expect(await readFile("/proc/modules", "utf8").catch(() => "")).toBe(modulesBefore);
});

test("a build step cannot read another build's work dir or registry credentials", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  const image = await escapeImageOf(infra, baseImage);
  const outside = await listener(externalAddress());
  const needle = `pw-${subjectPrefix}-another-teams-secret`;
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_MAX_CONCURRENT_BUILDS: "2" },
  });
  const call = api(running);
  const auth = Buffer.from(`team-b:${needle}`).toString("base64");
  // For team B's own registry: the victim's image comes from Kiln's, which wants Kiln's account
  // (the runner adds it beside the Secret), so the victim runs and its credentials file holds both.
  const teamRegistry = "registry.team-b.example";
  const applied = await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "team-b-pull" },
        type: "kubernetes.io/dockerconfigjson",
        data: {
          ".dockerconfigjson": Buffer.from(
            JSON.stringify({ auths: { [teamRegistry]: { auth } } }),
          ).toString("base64"),
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "victim" },
        spec: {
          source: { dockerfile: `FROM ${image}\nRUN sleep 30\n` },
          strategy: { type: "Docker", dockerStrategy: { pullSecret: { name: "team-b-pull" } } },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/victim/instantiate", {});

  // The victim's credentials, where the runner wrote them on this host (its builds' work dirs
  // are below its own kiln-runner-<id> dir).
  const workRoot = join(infra.workDir, "work", subjectPrefix);
  let authFile: string | undefined;
  for (
    const deadline = Date.now() + 30_000;
    !authFile && Date.now() < deadline;
    await new Promise((r) => setTimeout(r, 100))
  ) {
    const runnerDirs = (await readdir(workRoot).catch(() => [] as string[])).filter(
      (d) => d.startsWith("kiln-runner-") && !d.endsWith(".lock"),
    );
    for (const runnerDir of runnerDirs) {
      const dirs = await readdir(join(workRoot, runnerDir)).catch(() => [] as string[]);
      for (const dir of dirs.filter((d) => d.startsWith("default-victim-1-"))) {
        const file = join(workRoot, runnerDir, dir, "auth", "pull.json");
        if ((await readFile(file, "utf8").catch(() => "")).includes(auth)) authFile = file;
      }
    }
  }
  expect(authFile, "the victim build's pull credentials on the host").toBeDefined();

  await call("POST", "/apis/v1/apply", {
    items: [
      attackBuildConfig("thief", image, [
        "read",
        authFile ?? "",
        auth,
        externalAddress(),
        outside.port,
      ]),
    ],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/thief/instantiate", {});
  const thief = await waitForBuild(call, "thief-1", finished);
  expect(thief.status.phase).toBe("Failed");
  expect(thief.status.reason).toBe("DockerBuildFailed");
  // Nothing of the victim's credentials left through the network the step does have.
  expect(outside.received.join("\n")).not.toContain(auth);
  expect(await readFile(authFile ?? "", "utf8")).toContain(auth);
  await call("POST", "/apis/v1/namespaces/default/builds/victim-1/cancel", {});
});
