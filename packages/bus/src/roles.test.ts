import { describe, expect, test } from "vitest";
import { consumers, events, type ConsumerName, type EventType } from "./catalog.js";
import { busRoles, natsPermissions, streamsReadUnordered, type BusRole } from "./roles.js";

const roles = Object.entries(busRoles) as [BusRole, (typeof busRoles)[BusRole]][];

describe("bus roles", () => {
  test("every durable consumer belongs to exactly one role", () => {
    for (const name of Object.keys(consumers) as ConsumerName[]) {
      const owners = roles.filter(([, role]) =>
        (role.consumes as readonly string[]).includes(name),
      );
      expect(
        owners.map(([r]) => r),
        name,
      ).toHaveLength(1);
    }
  });

  test("every event type has a publisher", () => {
    for (const type of Object.keys(events) as EventType[])
      expect(
        roles.some(([, role]) => (role.publishes as readonly string[]).includes(type)),
        type,
      ).toBe(true);
  });

  test("a stream read through ordered consumers holds no durable one (a reader could pull from it)", () => {
    const unordered = streamsReadUnordered();
    for (const def of Object.values(consumers))
      expect(unordered).not.toContain(events[def.event].stream);
  });

  test("a role may publish only its own events and subscribe only to its own inbox and signals", () => {
    const runner = natsPermissions("build-runner", "kiln");
    expect(runner.publish.allow).toContain("kiln.build.status-changed.>");
    expect(runner.publish.allow).not.toContain("kiln.build.requested.>");
    expect(runner.publish.allow.some((s) => s.startsWith("$JS.API.STREAM.CREATE"))).toBe(false);
    expect(runner.subscribe.allow.sort()).toEqual(
      ["_INBOX_build_runner.>", "kiln.build.cancel-requested.>"].sort(),
    );
    // The phases it gives a build itself, and the newest one read first (never after a runner's).
    const scheduler = natsPermissions("scheduler", "kiln");
    expect(scheduler.publish.allow).toContain("kiln.build.status-changed.>");
    expect(scheduler.publish.allow).toContain("$JS.API.STREAM.MSG.GET.KILN_BUILD_EVENTS");
    expect(scheduler.publish.allow).not.toContain("kiln.build.requested.>");
    const receiver = natsPermissions("webhook-receiver", "kiln");
    // Its commit-status reporter acks the build statuses it reports, and publishes nothing more.
    expect(receiver.publish.allow.filter((s) => !s.startsWith("$JS.API"))).toEqual([
      "kiln.build.requested.>",
      "$JS.ACK.KILN_BUILD_EVENTS.webhook-receiver-build-status.>",
    ]);
  });
});
