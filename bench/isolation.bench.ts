/**
 * Isolated builds benchmark (not a timed test), against the real services and infrastructure,
 * PostgreSQL durable and every request authenticated, as users run Kiln:
 *  (a) a Docker build (`FROM <~700 MB toolchain image>` + one RUN) and an S2I build (a builder
 *      made from that image): Kiln rootless on overlay (the default) vs. Kiln's previous mode
 *      (chroot isolation on vfs, BUILD_RUNNER_ISOLATION=chroot-unsafe) vs. a hand-written rootless
 *      `buildah bud` on overlay with the same phases (clone, build, push), all with warm stores;
 *  (b) a trivial Docker build (FROM busybox + CMD), request → Complete, p50/p99.
 *
 *   npx tsx bench/isolation.bench.ts [--runs 5] [--base-mb 700] [--trivial 50] [--keep]
 *
 * The toolchain image is made here from Debian packages installed on this machine (gcc, g++,
 * the JDK, python, perl… whichever are present, until the size is reached). See bench/README.md
 * ("Isolated builds").
 */
import { execFile } from "node:child_process";
import { realpathSync } from "node:fs";
import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { loadavg, release } from "node:os";
import { basename, dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { buildahArgs, buildBusyboxImage, removeBuildahStore } from "@kiln/infra";
import { makeGitRepo } from "@kiln/testing/plain";
import { api, waitForBuild, type RunningKiln } from "../test/support/kiln-services.js";
import {
  authFileArgs,
  handWrittenBuildah,
  machineFacts,
  startBenchEnvironment,
  runBench,
  startBenchKiln,
  writeBenchResults,
  type BenchEnvironment,
} from "./support.js";

const exec = promisify(execFile);
const TARGET_RATIO = 1.1;
const TARGET_SPEEDUP = 5;

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    "base-mb": { type: "string", default: "700" },
    trivial: { type: "string", default: "50" },
    keep: { type: "boolean", default: false },
    "no-readme": { type: "boolean", default: false },
  },
});
const runs = Number(args.runs);
const baseMb = Number(args["base-mb"]);
const trivialRuns = Number(args.trivial);

let bench: BenchEnvironment | undefined;
process.on(
  "SIGINT",
  () => void (bench?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130)),
);

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const percentile = (xs: number[], p: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const secs = (ms: number) => (ms / 1000).toFixed(2);

/** Debian packages a builder image would hold, biggest first; those installed here are used. */
const toolchainPackages = [
  "openjdk-17-jre-headless",
  "openjdk-17-jdk-headless",
  "gcc-12",
  "cpp-12",
  "g++-12",
  "libstdc++-12-dev",
  "libgcc-12-dev",
  "binutils-x86-64-linux-gnu",
  "libc6-dev",
  "libc6",
  "libpython3.11-stdlib",
  "python3.11-minimal",
  "perl-modules-5.36",
  "libperl5.36",
  "perl-base",
  "git",
  "llvm-14",
  "libllvm14",
];

/** A root file system of the installed packages' files, about `mb` MiB, plus busybox for /bin/sh. */
async function toolchainRootfs(
  dir: string,
  mb: number,
): Promise<{ packages: string[]; bytes: number }> {
  const files: string[] = [];
  const packages: string[] = [];
  let bytes = 0;
  for (const pkg of toolchainPackages) {
    if (bytes >= mb * 1024 * 1024) break;
    const listed = await exec("dpkg", ["-L", pkg], { maxBuffer: 64 * 1024 * 1024 }).catch(
      () => null,
    );
    if (!listed) continue;
    packages.push(pkg);
    for (const path of listed.stdout
      .split("\n")
      .filter((p) => p.startsWith("/") && !p.startsWith("/etc/"))) {
      // Through the real directory (/lib64 → /usr/lib64 on a merged-/usr system), so nothing in
      // the archive is written through a directory symlink.
      const real = (() => {
        try {
          return join(realpathSync(dirname(path)), basename(path));
        } catch {
          return null;
        }
      })();
      if (real) files.push(real.slice(1));
    }
    const { stdout } = await exec("dpkg-query", ["-W", "-f=${Installed-Size}", pkg]);
    bytes += Number(stdout) * 1024;
  }
  if (bytes < mb * 1024 * 1024 * 0.8)
    throw new Error(
      `only ${Math.round(bytes / 2 ** 20)} MiB of toolchain packages installed here (${packages.join(", ")}); install openjdk-17-jdk-headless or g++, or pass --base-mb`,
    );
  const list = join(dir, "..", "files.txt");
  await writeFile(list, [...new Set(files)].join("\n"));
  await mkdir(dir, { recursive: true });
  // --no-recursion: directories come as entries of their own, so only the packages' files land.
  await exec(
    "sh",
    [
      "-c",
      `tar -C / --no-recursion --ignore-failed-read -cf - -T "${list}" 2>/dev/null | tar -C "${dir}" -xf -`,
    ],
    { maxBuffer: 1024 * 1024 },
  );
  // The merged-/usr links, so the toolchain's binaries find their loader and libraries.
  for (const link of ["lib", "lib64", "sbin"])
    await symlink(`usr/${link}`, join(dir, link)).catch(() => undefined);
  return { packages, bytes };
}

/** The toolchain image and an S2I builder on it, built with root's buildah and pushed. */
async function makeImages(
  env: BenchEnvironment,
  registry: string,
): Promise<{
  base: string;
  builder: string;
  busybox: string;
  packages: string[];
  imageMiB: number;
}> {
  const { storageDir, workDir } = env;
  const global = buildahArgs(storageDir);
  const busybox = (
    await buildBusyboxImage({
      storageDir,
      ref: `${registry}/base/busybox:latest`,
      authFile: env.servers.registry.authFile ?? undefined,
      extraApplets: ["id", "chown", "tar", "rm"],
    })
  ).ref;
  const rootfs = join(workDir, "toolchain-rootfs");
  const { packages } = await toolchainRootfs(rootfs, baseMb);
  const base = `${registry}/base/toolchain:latest`;
  const container = (await exec("buildah", [...global, "from", busybox])).stdout.trim();
  await exec("buildah", [...global, "copy", container, rootfs, "/"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  await exec("buildah", [
    ...global,
    "config",
    "--env",
    "PATH=/usr/local/bin:/usr/bin:/bin",
    container,
  ]);
  await exec("buildah", [...global, "commit", "--quiet", container, base]);
  await exec("buildah", [...global, "rm", container]);
  await exec("buildah", [
    ...global,
    "push",
    "--quiet",
    "--tls-verify=false",
    ...authFileArgs(env),
    base,
    `docker://${base}`,
  ]);
  const imageMiB = Math.round(Number((await exec("du", ["-sm", rootfs])).stdout.split("\t")[0]));
  await rm(rootfs, { recursive: true, force: true });

  // An S2I builder on the toolchain, as an image author makes one: scripts, label, USER 1001.
  const builder = `${registry}/s2i/toolchain-builder:latest`;
  const scripts = join(workDir, "s2i-scripts");
  await mkdir(scripts, { recursive: true });
  await writeFile(
    join(scripts, "assemble"),
    "#!/bin/sh\nset -e\nmkdir -p /opt/app-root/src\ncp -R /tmp/src/. /opt/app-root/src/\n",
  );
  await writeFile(join(scripts, "run"), "#!/bin/sh\ncat /opt/app-root/src/message.txt\n");
  await chmod(join(scripts, "assemble"), 0o755);
  await chmod(join(scripts, "run"), 0o755);
  const b = (await exec("buildah", [...global, "from", base])).stdout.trim();
  await exec("buildah", [...global, "copy", b, scripts, "/usr/libexec/s2i"]);
  await exec("buildah", [
    ...global,
    "run",
    "--isolation",
    "chroot",
    b,
    "--",
    "/bin/sh",
    "-c",
    "mkdir -p /opt/app-root /tmp && chown 1001:0 /opt/app-root && chmod 1777 /tmp",
  ]);
  await exec("buildah", [
    ...global,
    "config",
    "--label",
    "io.openshift.s2i.scripts-url=image:///usr/libexec/s2i",
    "--user",
    "1001",
    b,
  ]);
  await exec("buildah", [...global, "commit", "--quiet", b, builder]);
  await exec("buildah", [...global, "rm", b]);
  await exec("buildah", [
    ...global,
    "push",
    "--quiet",
    "--tls-verify=false",
    ...authFileArgs(env),
    builder,
    `docker://${builder}`,
  ]);
  await exec("buildah", [...global, "rmi", "--all", "--force"]).catch(() => undefined);
  return { base, builder, busybox, packages, imageMiB };
}

type Side = { engineMs: number[]; totalMs: number[] };

/** Builds `name` `runs` times after one warm-up build (which pulls the image into the runner's store). */
async function kilnBuilds(kiln: RunningKiln, name: string, count: number): Promise<Side> {
  const call = api(kiln);
  const side: Side = { engineMs: [], totalMs: [] };
  for (let i = 0; i <= count; i++) {
    const t0 = performance.now();
    const started = await call(
      "POST",
      `/apis/v1/namespaces/default/buildconfigs/${name}/instantiate`,
      {},
    );
    if (started.status !== 201)
      throw new Error(`instantiate ${name}: ${started.status} ${started.text}`);
    const build = await waitForBuild(
      call,
      started.json.metadata.name,
      (p) => ["Complete", "Failed", "Error", "Cancelled"].includes(p),
      900_000,
    );
    const totalMs = performance.now() - t0;
    if (build.status.phase !== "Complete")
      throw new Error(
        `${build.metadata.name}: ${build.status.phase} ${build.status.reason} ${build.status.message}`,
      );
    if (i === 0) continue; // the warm-up
    side.engineMs.push(
      Date.parse(build.status.completionTimestamp) - Date.parse(build.status.startTimestamp),
    );
    side.totalMs.push(totalMs);
  }
  return side;
}

/** The same phases by hand, as the build user, rootless on overlay: clone, `buildah bud`, push. */
async function handBuilds(
  env: BenchEnvironment,
  repoUrl: string,
  dockerfile: string,
  registry: string,
  count: number,
): Promise<number[]> {
  const hand = await handWrittenBuildah(env, "hand", registry);
  const times: number[] = [];
  for (let i = 0; i <= count; i++) {
    const work = join(hand.dir, `run-${i}`);
    const tag = `${registry}/default/hand:latest`;
    const t0 = performance.now();
    await hand.as("git", ["clone", "--quiet", "--depth", "1", "--branch", "main", repoUrl, work]);
    await writeFile(join(hand.dir, `Dockerfile.${i}`), dockerfile);
    await hand.buildah(
      "bud",
      "--quiet",
      ...hand.isolation,
      "--layers=false",
      "--file",
      join(hand.dir, `Dockerfile.${i}`),
      "--tag",
      tag,
      work,
    );
    await hand.buildah("push", "--quiet", tag, `docker://${tag}`);
    if (i > 0) times.push(performance.now() - t0);
    await hand.buildah("rmi", "--force", tag).catch(() => undefined);
    await hand.as("rm", ["-rf", work]);
  }
  return times;
}

async function main(): Promise<number> {
  console.log(
    `Kiln isolated-builds benchmark: ${runs} runs per side, a ~${baseMb} MB toolchain image, ${trivialRuns} trivial builds`,
  );
  bench = await startBenchEnvironment("isolation", { keep: args.keep });
  const env = bench;
  env.onCleanup(() => removeBuildahStore(env.storageDir));
  const registry = env.servers.registry.address;
  console.log("making the toolchain image from Debian packages...");
  const images = await makeImages(env, registry);
  console.log(`toolchain image: ${images.imageMiB} MiB of ${images.packages.join(", ")}`);
  const repo = await makeGitRepo(
    { "message.txt": "hello", "app.c": "int main(void) { return 0; }\n" },
    { parentDir: env.workDir },
  );
  const dockerRun = `FROM ${images.base}\nRUN echo built > /built.txt\n`;
  const bc = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: { git: { uri: repo.url, ref: "main" } },
      output: { to: { kind: "ImageStreamTag", name: `${name}:latest` } },
      ...spec,
    },
  });
  const items = [
    bc("docker", {
      source: { git: { uri: repo.url, ref: "main" }, dockerfile: dockerRun },
      strategy: { type: "Docker" },
    }),
    bc("s2i", {
      strategy: {
        type: "Source",
        sourceStrategy: { from: { kind: "DockerImage", name: images.builder } },
      },
    }),
    bc("trivial", {
      source: { dockerfile: `FROM ${images.busybox}\nCMD ["echo","hello"]\n` },
      strategy: { type: "Docker" },
    }),
  ];

  console.log("hand-written rootless buildah bud on overlay...");
  const handDocker = await handBuilds(env, repo.url, dockerRun, registry, runs);
  console.log(`  docker ${handDocker.map(secs).join(", ")} s`);
  const handS2i = await handBuilds(
    env,
    repo.url,
    `FROM ${images.builder}\nUSER 0\nCOPY --chown=1001:0 . /tmp/src\nUSER 1001\nRUN /usr/libexec/s2i/assemble\nCMD ["/usr/libexec/s2i/run"]\n`,
    registry,
    runs,
  );
  console.log(`  s2i ${handS2i.map(secs).join(", ")} s`);

  const sides: Record<string, { docker: Side; s2i: Side; trivial?: Side }> = {};
  const modes = [
    { key: "overlay", title: "Kiln, rootless OCI isolation on overlay (default)", env: {} },
    {
      key: "vfs",
      title: "Kiln, previous mode (chroot isolation on vfs)",
      env: { BUILD_RUNNER_ISOLATION: "chroot-unsafe", BUILD_RUNNER_STORAGE_DRIVER: "vfs" },
    },
  ] as const;
  for (const mode of modes) {
    console.log(`${mode.title}...`);
    const kiln = await startBenchKiln(env, {
      buildahStorageDir: join(env.workDir, `runner-${mode.key}`),
      extraEnv: mode.env,
    });
    const applied = await api(kiln)("POST", "/apis/v1/apply", { items });
    if (applied.status !== 200) throw new Error(`apply: ${applied.status} ${applied.text}`);
    const docker = await kilnBuilds(kiln, "docker", runs);
    const s2i = await kilnBuilds(kiln, "s2i", runs);
    const trivial =
      mode.key === "overlay" ? await kilnBuilds(kiln, "trivial", trivialRuns) : undefined;
    sides[mode.key] = { docker, s2i, ...(trivial ? { trivial } : {}) };
    console.log(
      `  docker ${docker.engineMs.map(secs).join(", ")} s; s2i ${s2i.engineMs.map(secs).join(", ")} s`,
    );
    await kiln.stop();
  }
  const overlay = sides.overlay!;
  const vfs = sides.vfs!;
  const row = (what: string, xs: number[], target = "") =>
    `| ${what} | ${secs(median(xs))} s | ${xs.map(secs).join(", ")} | ${target} |`;
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const ratio = (a: number[], b: number[]) => median(a) / median(b);
  const dockerRatio = ratio(overlay.docker.engineMs, handDocker);
  const s2iRatio = ratio(overlay.s2i.engineMs, handS2i);
  const dockerSpeedup = ratio(vfs.docker.engineMs, overlay.docker.engineMs);
  const s2iSpeedup = ratio(vfs.s2i.engineMs, overlay.s2i.engineMs);
  const trivial = overlay.trivial!.totalMs;
  const machine = machineFacts();
  const { stdout: buildahVersion } = await exec("buildah", ["--version"]);
  const md = [
    `Builds from a ${images.imageMiB} MiB toolchain image (${images.packages.join(", ")}), warm stores, ${runs} runs each; Kiln's time is its engine's (the build's start → completion timestamps: clone, pull check, build, push).`,
    "",
    "| measurement | median | runs | target |",
    "| --- | ---: | --- | --- |",
    row("(a) Docker, Kiln rootless on overlay (default)", overlay.docker.engineMs),
    row("(a) Docker, Kiln previous mode (chroot, vfs)", vfs.docker.engineMs),
    row(
      "(a) Docker, hand-written rootless `buildah bud` on overlay (clone, bud, push)",
      handDocker,
    ),
    `| (a) Docker, Kiln overlay / hand-written | **${dockerRatio.toFixed(2)}** | | ≤ ${TARGET_RATIO}: ${verdict(dockerRatio <= TARGET_RATIO)} |`,
    `| (a) Docker, Kiln vfs / Kiln overlay | **${dockerSpeedup.toFixed(1)}×** | | ≥ ${TARGET_SPEEDUP}×: ${verdict(dockerSpeedup >= TARGET_SPEEDUP)} |`,
    row("(a) S2I, Kiln rootless on overlay (default)", overlay.s2i.engineMs),
    row("(a) S2I, Kiln previous mode (chroot, vfs)", vfs.s2i.engineMs),
    row("(a) S2I, hand-written rootless `buildah bud` on overlay (clone, bud, push)", handS2i),
    `| (a) S2I, Kiln overlay / hand-written | **${s2iRatio.toFixed(2)}** | | ≤ ${TARGET_RATIO}: ${verdict(s2iRatio <= TARGET_RATIO)} |`,
    `| (a) S2I, Kiln vfs / Kiln overlay | **${s2iSpeedup.toFixed(1)}×** | | ≥ ${TARGET_SPEEDUP}×: ${verdict(s2iSpeedup >= TARGET_SPEEDUP)} |`,
    row("(a) Docker, Kiln overlay, request → Complete", overlay.docker.totalMs),
    `| (b) trivial Docker build (FROM busybox + CMD), request → Complete, p50 / p99 over ${trivial.length} | ${secs(percentile(trivial, 50))} / ${secs(percentile(trivial, 99))} s | | reported |`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpuModel?.trim()}), ${machine.memoryGiB} GiB, Linux ${release()}, node ${process.version}, ${buildahVersion.trim()}, ${machine.date}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join("/")} at the end. PostgreSQL durable; the api's bearer token on every request.`,
  ].join("\n");
  console.log(`\n${md}\n`);
  await writeBenchResults({
    name: "isolation",
    title: "Isolated builds benchmark",
    date: machine.date,
    table: md,
    json: {
      ...machine,
      runs,
      baseMb,
      images,
      sides,
      handDocker,
      handS2i,
      dockerRatio,
      s2iRatio,
      dockerSpeedup,
      s2iSpeedup,
    },
    readme: !args["no-readme"],
  });
  return 0;
}

runBench(main, () => bench?.cleanup());
