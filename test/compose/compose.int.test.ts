/**
 * docker-compose.yml and the Kiln image it builds, checked without a Docker engine (the build
 * machines have none, so nothing here starts a container):
 *
 * - Compose itself: Debian's docker-compose (1.29, installed by scripts/bootstrap; `config` needs
 *   no daemon) validates the file against its Compose schema and resolves it (anchors, merges,
 *   interpolation); every check below reads that resolved form, not our own parse of the YAML.
 * - What the services need, asked of the services themselves: each Kiln service's environment
 *   passes its own config parsing (`--check-config`), its healthcheck asks /healthz on the port
 *   that environment makes it listen on, published ports reach a non-loopback listener.
 * - The registry's notification endpoint, as Debian's distribution registry reads it from the
 *   compose environment, points at the image-watcher with the image-watcher's token.
 * - The image: its entrypoint dispatches every service name to that service (run here through
 *   scripts/kiln-service itself), and the Containerfile's user and packages.
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, kilnServiceNames } from "@kiln/infra";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kiln-services.js";
import {
  checkConfig,
  configSchema,
  listenHost,
  listenPort,
  listenVariables,
  mapLimit,
  type ConfigSchema,
  type KilnEntry,
} from "../support/service-config.js";

const exec = promisify(execFile);

type Obj = Record<string, any>;

const composeFile = join(repoRoot, "docker-compose.yml");
/** docker-compose reads nothing from the developer's environment: KILN_API_TOKEN and friends take the file's defaults. */
const composeEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir() };

let resolved: Obj;
const schemas = new Map<KilnEntry, ConfigSchema>();

/** A service's environment as compose resolved it (a map; 1.29 prints lists as maps too). */
function envOf(service: Obj): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((line: string) => line.split(/=(.*)/s).slice(0, 2)));
  return Object.fromEntries(
    Object.entries(env as Record<string, unknown>).map(([k, v]) => [
      k,
      v === null ? "" : String(v),
    ]),
  );
}

const kilnEntry = (name: string, service: Obj): KilnEntry | undefined => {
  const first = Array.isArray(service.command) ? service.command[0] : undefined;
  return first === "migrate" || (kilnServiceNames as readonly string[]).includes(first)
    ? (first as KilnEntry)
    : undefined;
};

beforeAll(async () => {
  const { stdout } = await exec("docker-compose", ["-f", composeFile, "config"], {
    env: composeEnv,
    cwd: repoRoot,
  });
  resolved = parse(stdout) as Obj;
  const entries: KilnEntry[] = [...kilnServiceNames, "migrate"];
  const results = await mapLimit(entries, 3, (e) => configSchema(e));
  entries.forEach((e, i) => schemas.set(e, results[i]!));
}, 120_000);

describe("docker-compose.yml", () => {
  it("is valid for Compose (docker-compose config -q)", async () => {
    const { stdout, stderr } = await exec("docker-compose", ["-f", composeFile, "config", "-q"], {
      env: composeEnv,
      cwd: repoRoot,
    });
    expect(stdout + stderr).toBe("");
  });

  it("refuses a broken file (the validation is live)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-compose-"));
    try {
      const broken = readFileSync(composeFile, "utf8").replace(
        "condition: service_completed_successfully",
        "condition: service_finished",
      );
      writeFileSync(join(dir, "docker-compose.yml"), broken);
      await expect(
        exec("docker-compose", ["-f", join(dir, "docker-compose.yml"), "config", "-q"], {
          env: composeEnv,
          cwd: dir,
        }),
      ).rejects.toThrow(/condition/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs NATS, PostgreSQL, the registry, the migrations and the six services, all Kiln ones from the Containerfile", () => {
    const services = resolved.services as Obj;
    expect(Object.keys(services).sort()).toEqual(
      [...kilnServiceNames, "migrate", "nats", "postgres", "registry"].sort(),
    );
    const kiln = Object.entries(services).filter(([name, s]) => kilnEntry(name, s));
    expect(kiln.map(([name, s]) => `${name}: ${kilnEntry(name, s)}`).sort()).toEqual(
      [...kilnServiceNames, "migrate"].map((n) => `${n}: ${n}`).sort(),
    );
    for (const [name, s] of kiln) {
      expect(s.build?.context, name).toBe(repoRoot.replace(/\/$/, ""));
      expect(s.build?.dockerfile, name).toBe("Containerfile");
      expect(s.image, name).toBe(kiln[0]![1].image);
    }
  });

  it("gives every Kiln service an environment it accepts, with every required variable", async () => {
    const services = Object.entries(resolved.services as Record<string, Obj>).filter(([name, s]) =>
      kilnEntry(name, s),
    );
    for (const [name, s] of services) {
      const missing = schemas
        .get(kilnEntry(name, s)!)!
        .required.filter((v) => envOf(s)[v] === undefined);
      expect(missing, name).toEqual([]);
    }
    const results = await mapLimit(services, 3, ([name, s]) =>
      checkConfig(kilnEntry(name, s)!, envOf(s)),
    );
    expect(
      services.flatMap(([name], i) => (results[i]!.ok ? [] : [`${name}: ${results[i]!.output}`])),
    ).toEqual([]);
  });

  it("checks each service's health on /healthz at the port it listens on, and publishes only listeners that accept connections from outside", () => {
    const services = resolved.services as Obj;
    for (const name of kilnServiceNames) {
      const s = services[name]!;
      const env = envOf(s);
      const port = listenPort(name, env, schemas.get(name)!);
      expect(s.healthcheck?.test, name).toEqual(["CMD", "kiln-service", "healthz", String(port)]);
      for (const published of s.ports ?? []) {
        const target =
          typeof published === "object"
            ? Number(published.target)
            : Number(String(published).split(":").pop()!.split("/")[0]);
        expect(target, `${name} publishes its listen port`).toBe(port);
        expect(
          listenHost(name, env, schemas.get(name)!),
          `${name} is published, so it must not bind loopback`,
        ).toBe("0.0.0.0");
        // On the host, loopback only.
        const hostIp =
          typeof published === "object" ? published.host_ip : String(published).split(":")[0];
        expect(hostIp, name).toBe("127.0.0.1");
      }
    }
    expect(services.nats.healthcheck.test.join(" ")).toMatch(/\/healthz\?js-enabled-only=true/);
    expect(services.postgres.healthcheck.test).toContain("pg_isready");
  });

  it("starts in order: infrastructure healthy, migrations done, then the services", () => {
    const services = resolved.services as Obj;
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(services.migrate.restart).toBe("no");
    for (const name of kilnServiceNames) {
      const s = services[name]!;
      const env = envOf(s);
      expect(s.depends_on?.nats, name).toEqual({ condition: "service_healthy" });
      expect(new URL(env.NATS_URL!).hostname, name).toBe("nats");
      if (schemas.get(name)!.required.includes("DATABASE_URL")) {
        expect(s.depends_on?.migrate, name).toEqual({
          condition: "service_completed_successfully",
        });
      }
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
      expect(s.restart, name).toBe("unless-stopped");
    }
    // The services' database is the compose PostgreSQL, with its user, password and database.
    const pg = envOf(services.postgres);
    for (const name of [...kilnServiceNames, "migrate"]) {
      const url = envOf(services[name]!).DATABASE_URL;
      if (url === undefined) continue;
      const u = new URL(url);
      expect([u.hostname, u.port, u.username, u.password, u.pathname], name).toEqual([
        "postgres",
        "5432",
        pg.POSTGRES_USER,
        pg.POSTGRES_PASSWORD,
        `/${pg.POSTGRES_DB}`,
      ]);
    }
  });

  it("keeps the Kiln containers unprivileged; the build-runner gets only what rootless buildah needs", () => {
    const services = resolved.services as Obj;
    for (const name of [...kilnServiceNames, "migrate"]) {
      const s = services[name]!;
      expect(s.privileged ?? false, name).toBe(false);
      expect(s.user, `${name} runs as the image's non-root user`).toBeUndefined();
      // Only the build-runner gets a device: /dev/net/tun, for its build steps' slirp4netns.
      expect(s.devices ?? [], name).toEqual(name === "build-runner" ? ["/dev/net/tun"] : []);
      expect(s.cap_drop, name).toEqual(["ALL"]);
      expect(s.pid ?? s.network_mode ?? s.ipc, name).toBeUndefined();
      for (const v of s.volumes ?? []) {
        const source =
          typeof v === "object"
            ? v
            : {
                type: String(v).startsWith("/") ? "bind" : "volume",
                source: String(v).split(":")[0],
              };
        expect(source.type, `${name}: no host path or Docker socket mounted`).toBe("volume");
      }
      if (name === "build-runner") continue;
      expect(s.cap_add ?? [], name).toEqual([]);
      expect(s.read_only, name).toBe(true);
      expect(s.security_opt, name).toEqual(["no-new-privileges:true"]);
    }
    const runner = services["build-runner"]!;
    const env = envOf(runner);
    expect(env.BUILD_RUNNER_ENGINE).toBe("local");
    expect([...runner.cap_add].sort()).toEqual(["SETGID", "SETUID"]);
    expect([...runner.security_opt].sort()).toEqual([
      "apparmor=unconfined",
      "seccomp=unconfined",
      "systempaths=unconfined",
    ]);
    // Work dirs and buildah's store on the named volume (the root filesystem would lose them and fill up).
    const mount = String(runner.volumes[0]).split(":")[1] ?? runner.volumes[0].target;
    for (const dir of [env.BUILD_RUNNER_WORK_DIR, env.BUILD_RUNNER_STORAGE_DIR])
      expect(dir?.startsWith(`${mount}/`), dir).toBe(true);
    expect(env.KILN_INSECURE_REGISTRIES?.split(",")).toContain(env.KILN_REGISTRY);
    expect(env.KILN_REGISTRY?.split(":")[0]).toBe("registry");
  });

  it("has the registry notify the image-watcher with its token, as distribution reads its environment", async () => {
    const services = resolved.services as Obj;
    const watcher = envOf(services["image-watcher"]!);
    const dir = await mkdtemp(join(tmpdir(), "kiln-compose-registry-"));
    const port = await freePort();
    writeFileSync(
      join(dir, "config.yml"),
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    // Debian's docker-registry is the same distribution (2.8) as the registry:2 image.
    const registry = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
      env: { ...composeEnv, ...envOf(services.registry!) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let log = "";
      const endpoint = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`registry did not start:\n${log}`)),
          20_000,
        );
        const onData = (chunk: Buffer) => {
          log += chunk.toString();
          const m =
            /configuring endpoint kiln \(([^)]+)\), timeout=\S+, headers=(map\[[^\n"]*\])/.exec(
              log,
            );
          if (m) {
            clearTimeout(timer);
            resolve(`${m[1]} ${m[2]}`);
          } else if (/listening on/.test(log)) {
            clearTimeout(timer);
            reject(new Error(`registry started without a kiln notification endpoint:\n${log}`));
          }
        };
        registry.stdout.on("data", onData);
        registry.stderr.on("data", onData);
        registry.once("exit", (code) => reject(new Error(`registry exited ${code}:\n${log}`)));
      });
      const [url, headers] = [
        endpoint.slice(0, endpoint.indexOf(" ")),
        endpoint.slice(endpoint.indexOf(" ") + 1),
      ];
      const target = new URL(url);
      expect(`${target.hostname}:${target.port}${target.pathname}`).toBe(
        `image-watcher:${listenPort("image-watcher", watcher, schemas.get("image-watcher")!)}/registry/notifications`,
      );
      expect(headers).toContain(
        `Authorization:[Bearer ${watcher.IMAGE_WATCHER_NOTIFICATION_TOKEN}]`,
      );
      expect(listenHost("image-watcher", watcher, schemas.get("image-watcher")!)).toBe("0.0.0.0");
    } finally {
      registry.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the Kiln image", () => {
  const containerfile = readFileSync(join(repoRoot, "Containerfile"), "utf8");

  it("is node 20 on Debian bookworm with buildah, runc, slirp4netns, git, skopeo, uidmap and tini, and runs as a non-root user with a subordinate ID range", () => {
    const froms = [...containerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.every((f) => f === "${NODE_IMAGE}")).toBe(true);
    expect(containerfile).toMatch(/^ARG NODE_IMAGE=docker\.io\/library\/node:20-bookworm-slim$/m);
    const install =
      /apt-get install[^\n]*--no-install-recommends([^\n]*)/.exec(containerfile)?.[1] ?? "";
    for (const pkg of ["buildah", "runc", "slirp4netns", "git", "skopeo", "uidmap", "tini"])
      expect(install.split(/\s+/), pkg).toContain(pkg);
    const users = [...containerfile.matchAll(/^USER\s+(\d+)(?::(\d+))?$/gm)];
    expect(users.length).toBe(1);
    const uid = Number(users[0]![1]);
    expect(uid).toBeGreaterThan(0);
    // The base image's user of that uid (node) gets the range rootless buildah maps.
    expect(containerfile).toMatch(new RegExp(`echo "node:\\d+:65536" > /etc/subuid`));
    expect(uid).toBe(1000);
    expect(containerfile).toMatch(
      /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/usr\/local\/bin\/kiln-service"\]$/m,
    );
    expect(containerfile).toMatch(/npm ci --omit=dev/);
  });

  it("keeps node_modules and local state out of the build context", () => {
    const ignored = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim());
    for (const entry of ["**/node_modules", ".git", ".kiln", ".tools"])
      expect(ignored, entry).toContain(entry);
    // What the image needs must not be ignored.
    for (const needed of [
      "packages",
      "services",
      "migrations",
      "scripts",
      "package.json",
      "package-lock.json",
    ])
      expect(ignored, needed).not.toContain(needed);
  });

  it("dispatches every service name, and migrate, to that program (scripts/kiln-service, the entrypoint)", async () => {
    const entrypoint = join(repoRoot, "scripts", "kiln-service");
    const entries: KilnEntry[] = [...kilnServiceNames, "migrate"];
    const outputs = await mapLimit(entries, 3, async (entry) => {
      const { stdout } = await exec(entrypoint, [entry, "--config-schema"], {
        env: { ...composeEnv, KILN_HOME: repoRoot },
      });
      return JSON.parse(stdout) as ConfigSchema;
    });
    // Each service's schema is told apart by its own listen port variable; migrate's by being DATABASE_URL, the secrets key and LOG_LEVEL only.
    entries.forEach((entry, i) => {
      const names = Object.keys(outputs[i]!.properties).sort();
      if (entry === "migrate")
        expect(names, entry).toEqual(["DATABASE_URL", "KILN_SECRETS_KEY", "LOG_LEVEL"]);
      else
        expect(
          names.filter((n) => Object.values(listenVariables).some((v) => v.port.includes(n))),
          entry,
        ).toEqual([...listenVariables[entry].port].sort());
    });
    // Anything else runs as given: the Kubernetes engine's build step, git, a shell.
    const { stdout } = await exec(entrypoint, ["echo", "as", "given"], {
      env: { ...composeEnv, KILN_HOME: repoRoot },
    });
    expect(stdout).toBe("as given\n");
    // The compose healthcheck command.
    await expect(
      exec(entrypoint, ["healthz", String(await freePort())], { env: composeEnv }),
    ).rejects.toMatchObject({ code: 1 });
  });
});
