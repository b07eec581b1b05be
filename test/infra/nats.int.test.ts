import { connect } from "nats";
import { afterEach, describe, expect, test } from "vitest";
import { freePort, isPortFree, PortInUseError, startNats, type NatsServer } from "@kiln/infra";
import { tempStateDir } from "./helpers.js";

describe("startNats", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(stateDir: string, port: number): Promise<NatsServer> {
    const nats = await startNats({ stateDir, port });
    cleanups.push(() => nats.stop());
    return nats;
  }

  test("starts a JetStream server whose streams survive a restart on the same state dir", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();

    const first = await start(state.dir, port);
    expect(first.url).toBe(`nats://127.0.0.1:${port}`);
    const nc = await connect({ servers: first.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
    await nc.jetstream().publish("keep.one", new TextEncoder().encode("hello"));
    await nc.close();
    await first.stop();
    await first.stop(); // idempotent
    expect(await isPortFree(port)).toBe(true);

    const second = await start(state.dir, port);
    const nc2 = await connect({ servers: second.url });
    const info = await (await nc2.jetstreamManager()).streams.info("KEEP");
    expect(info.state.messages).toBe(1);
    await nc2.close();
  });

  test("names the port and the flag when the port is busy", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    await start(state.dir, port);

    const err = await startNats({ stateDir: state.dir, port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as PortInUseError).reason).toBe("PortInUse");
    expect((err as Error).message).toBe(
      `port ${port} for nats is already in use (choose another with --nats-port)`,
    );
  });
});
