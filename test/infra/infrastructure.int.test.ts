import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { connect } from "nats";
import pg from "pg";
import { afterEach, describe, expect, test } from "vitest";
import {
  freePort,
  isPortFree,
  PortInUseError,
  startInfrastructure,
  StartupFailedError,
} from "@kiln/infra";
import { tempStateDir } from "./helpers.js";

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

describe("startInfrastructure", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test("starts nats, postgres and the registry and stops them all", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const ports = {
      nats: await freePort(),
      postgres: await freePort(),
      registry: await freePort(),
    };
    const infra = await startInfrastructure({ stateDir: state.dir, ports, fast: true });
    cleanups.push(() => infra.stop());

    expect(infra.natsUrl).toBe(`nats://127.0.0.1:${ports.nats}`);
    const password = (await readFile(join(state.dir, "postgres-kiln.password"), "utf8")).trim();
    expect(infra.databaseUrl).toBe(`postgres://kiln:${password}@127.0.0.1:${ports.postgres}/kiln`);
    expect(infra.registry.address).toBe(`127.0.0.1:${ports.registry}`);

    const nc = await connect({ servers: infra.natsUrl });
    await nc.flush();
    await nc.close();
    const client = new pg.Client({ connectionString: infra.databaseUrl });
    await client.connect();
    expect((await client.query("SELECT current_database() AS db")).rows).toEqual([{ db: "kiln" }]);
    await client.end();
    // The registry lets Kiln's account in, and nobody else.
    const credentials = infra.registry.credentials!;
    const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
    expect(
      (await fetch(`${infra.registry.url}/v2/`, { headers: { authorization: basic } })).status,
    ).toBe(200);
    expect((await fetch(`${infra.registry.url}/v2/`)).status).toBe(401);
    const passwordFile = join(state.dir, "registry", "password");
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    expect((await readFile(passwordFile, "utf8")).trim()).toBe(credentials.password);

    await infra.stop();
    await infra.stop(); // idempotent
    for (const port of Object.values(ports)) expect(await isPortFree(port)).toBe(true);

    // The account outlives a restart, so an auth file or an env file from before still works.
    const again = await startInfrastructure({ stateDir: state.dir, ports, fast: true });
    cleanups.push(() => again.stop());
    expect(again.registry.credentials).toEqual(credentials);
    expect(
      (await fetch(`${again.registry.url}/v2/`, { headers: { authorization: basic } })).status,
    ).toBe(200);
  });

  test("names every busy port in one error before starting anything", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const ports = {
      nats: await freePort(),
      postgres: await freePort(),
      registry: await freePort(),
    };
    const blockers = [await occupy(ports.nats), await occupy(ports.registry)];
    cleanups.push(async () => {
      for (const b of blockers) await new Promise((r) => b.close(r));
    });

    const err = await startInfrastructure({ stateDir: state.dir, ports, fast: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as PortInUseError).busy.map((b) => b.what)).toEqual(["nats", "registry"]);
    expect((err as Error).message).toBe(
      `port ${ports.nats} for nats is already in use (choose another with --nats-port); ` +
        `port ${ports.registry} for registry is already in use (choose another with --registry-port)`,
    );
    expect(await isPortFree(ports.postgres)).toBe(true);
  });

  test("stops the servers already running when a later one fails to start", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    // A data directory from an unknown postgres version makes the postgres server exit at once.
    const dataDir = join(state.dir, "postgres");
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, "PG_VERSION"), "7\n");
    const ports = {
      nats: await freePort(),
      postgres: await freePort(),
      registry: await freePort(),
    };

    const err = await startInfrastructure({ stateDir: state.dir, ports, fast: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartupFailedError);
    expect((err as StartupFailedError).service).toBe("postgres");
    expect((err as StartupFailedError).logTail).toMatch(/configuration file|incompatible/);
    expect(await isPortFree(ports.nats)).toBe(true);
    expect(await isPortFree(ports.registry)).toBe(true);
  });
});
