import { describe, expect, it } from "vitest";
import { ConnectionState } from "./connection-state.js";

describe("ConnectionState", () => {
  it("is ready and alive while connected", () => {
    const state = new ConnectionState("nats://127.0.0.1:4222");
    expect(state.connected).toBe(true);
    expect(state.readiness(0)).toBeNull();
    expect(state.liveness()).toBeNull();
  });

  it("is unready but alive while reconnecting, saying since when, and ready again once back", () => {
    const state = new ConnectionState("nats://127.0.0.1:4222");
    state.lost(10_000);
    state.lost(11_000);
    expect(state.connected).toBe(false);
    expect(state.readiness(13_400)).toBe(
      "disconnected from nats://127.0.0.1:4222 for 3 s, reconnecting",
    );
    expect(state.liveness()).toBeNull();
    expect(state.regained(15_000)).toBe(5_000);
    expect(state.connected).toBe(true);
    expect(state.readiness(15_000)).toBeNull();
  });

  it("is not alive once nats.js gave up on the connection: only a restart helps", () => {
    const state = new ConnectionState("nats://127.0.0.1:4222");
    state.closed(new Error("'Authorization Violation'"), false);
    expect(state.connected).toBe(false);
    expect(state.readiness(0)).toBe("closed: 'Authorization Violation'");
    expect(state.liveness()).toBe("closed: 'Authorization Violation'");
  });

  it("is unready but not dead after a drain (the service is stopping)", () => {
    const state = new ConnectionState("nats://127.0.0.1:4222");
    state.closed(undefined, true);
    expect(state.readiness(0)).toBe("closed");
    expect(state.liveness()).toBeNull();
  });
});
